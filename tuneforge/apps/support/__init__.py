"""`tuneforge app support`: an FAQ assistant (BM25 + dense retrieval, hand-off to a human, HTTP chat)."""
