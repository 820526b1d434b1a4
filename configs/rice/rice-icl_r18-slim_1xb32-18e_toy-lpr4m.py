# Toy ablation: ICL only.
_base_ = ['./rice_r18-slim_1xb32-18e_toy-lpr4m.py']
model = dict(pmd_head=None, pfr_head=None)
