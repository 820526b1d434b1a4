# Ablation: ICL only (no PMD, no PFR).
_base_ = ['./rice_vit-b-p32_8xb32-1e_lpr4m.py']
model = dict(pmd_head=None, pfr_head=None)
