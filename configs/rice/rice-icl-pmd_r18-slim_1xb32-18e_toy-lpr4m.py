# Toy ablation: ICL + PMD (no PFR).
_base_ = ['./rice_r18-slim_1xb32-18e_toy-lpr4m.py']
model = dict(pfr_head=None)
