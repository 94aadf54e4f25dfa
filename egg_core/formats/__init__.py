"""File formats: motion (BEAT2 npz, BVH), audio, transcripts. Pure numpy."""
