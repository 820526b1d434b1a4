# Ablation: ICL + PMD (no PFR).
_base_ = ['./rice_vit-b-p32_8xb32-1e_lpr4m.py']
model = dict(pfr_head=None)
