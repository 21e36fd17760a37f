"""What serving, monitoring, the dashboard and the apps share on disk or in a database: the model registry
(versions, stages, traffic), the request log, and the SQLite/PostgreSQL adapter under both. It sits below
all of them, so none has to import another to reach it."""
