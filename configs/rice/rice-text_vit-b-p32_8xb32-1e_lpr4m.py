# Ablation: + text. ASR -> one extra key/value token, title -> one extra
# query token of PMD, from a small transformer over an offline vocabulary:
#   python tools/misc/build_text_vocab.py data/lpr4m \
#       --out data/lpr4m/annotations/lpr_vocab.txt --min-freq 5
# (The paper used pre-computed 512-d embeddings of an unspecified in-house
# text model; this encoder is trained from scratch with the retriever.)
_base_ = ['./rice_vit-b-p32_8xb32-1e_lpr4m.py']
model = dict(
    text_encoder=dict(
        type='LPRTextEncoder',
        embed_dims=512,
        num_layers=2,
        num_heads=8,
        vocab_file='data/lpr4m/annotations/lpr_vocab.txt',
        max_length=32))
