"""`tuneforge app recommend`: a text-based recommender (two-tower sentence encoder) on implicit feedback.

data.py     interactions + item text (RecBole atomic TSV or CSV), checked line by line
split.py    per-user time-based train / validation / test split
metrics.py  AUC, Recall@k, NDCG@k over a full ranking of every item a user has not seen
baselines.py popularity and item-kNN (cosine on the user-item click matrix)
two_tower.py the encoder towers, in-batch-negative training, embedding
pipeline.py train + evaluate every arm in one run, the run directory, recommend top-k for a user
"""
