# The tiny-ViT toy RICE recipe cut down for the kill-and-resume test: batch
# 8 (3 iterations per epoch on the toy ``tests`` preset), 2 epochs, a
# checkpoint every 2 iterations (inside epoch 1, then at the start of epoch
# 2), the data pipeline in the main process, no validation, deterministic
# kernels, and the loop that resumes inside an epoch. Set the data root
# with --data-root.
_base_ = ['../../../configs/rice/rice_vit-tiny-p16_1xb32-18e_toy-lpr4m.py']

train_cfg = dict(
    _delete_=True,
    type='ResumableEpochBasedTrainLoop',
    max_epochs=2,
    val_interval=100)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(batch_size=8, clips_per_live=4))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1))
randomness = dict(seed=0, deterministic=True)
