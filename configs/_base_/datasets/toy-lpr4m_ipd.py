# Intended-product detection on the toy LPR4M set: frames and boxes from the
# COCO files of tools/dataset_converters/lpr4m_to_coco.py
#   python tools/dataset_converters/lpr4m_to_coco.py data/toy_lpr4m --classes 1
# (one "intended product" class; --classes 34 for the categories).
data_root = 'data/toy_lpr4m'
num_classes = 1
train_ann = f'annotations/lpr_det_train_{num_classes}cls.json'
test_ann = f'annotations/lpr_det_test_{num_classes}cls.json'
scale = (228, 128)  # the toy frames' size (w, h)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='LPR4MDetDataset',
        data_root=data_root,
        ann_file=train_ann,
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LPR4MDetDataset',
        data_root=data_root,
        ann_file=test_ann,
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='IntendedProductMetric', ann_file=f'{data_root}/{test_ann}')
test_evaluator = val_evaluator
