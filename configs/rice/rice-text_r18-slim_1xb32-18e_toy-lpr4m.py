# Toy ablation: + text (title -> one PMD query token, ASR -> one key/value
# token) from a small transformer over hashed tokens (no vocabulary file
# needed; tools/misc/build_text_vocab.py writes one for vocab_file).
_base_ = ['./rice_r18-slim_1xb32-18e_toy-lpr4m.py']
model = dict(
    text_encoder=dict(
        type='LPRTextEncoder',
        embed_dims=128,
        num_layers=2,
        num_heads=4,
        num_buckets=4096,
        max_length=32))
