# Single-frame intended-product detector (SD) on LPR4M, the paper's recipe:
# DAB-DETR, ResNet-50, 6+6 layers, 300 queries, trained on the 34 product
# categories of the training videoinfo; AdamW lr 1e-4 (backbone 1e-5),
# weight decay 1e-4, 20 epochs with a x0.1 drop at 15, 64 images per step
# (8 GPUs x 8), multi-scale training (shortest side 480-800, longest
# <= 1333), initialised from mmdet's COCO DAB-DETR (its 80-class head is not
# loaded).
# Evaluation on the release: its test files carry no category, so the test
# set has one "intended product" class and the categories are merged
# (class-agnostic AP, the paper's intended-product AP). AP uses the
# detector's top 100 boxes per frame; `top1/*` keeps each frame's best box,
# the retriever's input (tools/test.py --out-boxes writes that one box).
#   python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 34
#   bash tools/dist_train.sh configs/ipd/dab-detr_r50_8xb8-20e_lpr4m.py 8
# Frames are read by path from the COCO files: keep them as id-named
# folders (training_frames/<clip>/<frame>.jpg, test_frames/...).
# Fewer images per step: add --auto-scale-lr to scale the lr linearly
# (8 GPUs x 2 images: lr 2.5e-5, backbone 2.5e-6).
_base_ = ['mmdet::dab_detr/dab-detr_r50_8xb2-50e_coco.py']
custom_imports = dict(imports=['lpr'], allow_failed_imports=False)

data_root = 'data/lpr4m'
num_classes = 34
train_ann = f'annotations/lpr_det_train_{num_classes}cls.json'
test_ann = 'annotations/lpr_det_test_1cls.json'

model = dict(
    bbox_head=dict(
        num_classes=num_classes,
        # Plain-PyTorch focal loss: identical on CPU and on any CUDA build.
        loss_cls=dict(type='TorchFocalLoss')),
    # COCO AP counts at most 100 boxes per frame.
    test_cfg=dict(max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, s) for s in range(480, 801, 32)],
        keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        type='LPR4MDetDataset',
        data_root=data_root,
        ann_file=train_ann,
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type='LPR4MDetDataset',
        data_root=data_root,
        ann_file=test_ann,
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='IntendedProductMetric',
    ann_file=f'{data_root}/{test_ann}',
    class_agnostic=True)
test_evaluator = val_evaluator

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    optimizer=dict(lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[15], gamma=0.1)
]
# Global batch 64 (8 GPUs x 8), the paper's.
auto_scale_lr = dict(base_batch_size=64, enable=False)
# tools/test.py --show-dir: frames with GT (green) and predicted boxes; each
# clip of the multi-frame detector (which inherits this) as one strip.
default_hooks = dict(visualization=dict(type='ClipVisualizationHook'))
visualizer = dict(
    type='LPRVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer')
# mmdet's COCO DAB-DETR weights (model zoo), downloaded beforehand.
load_from = 'checkpoints/dab-detr_r50_8xb2-50e_coco.pth'
