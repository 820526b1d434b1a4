# The MD recipe over the one-class SD (dab-detr_r50_8xb8-20e_lpr4m-1cls.py),
# trained and evaluated on one "intended product" class; AP on every box of
# the last stage (its 30 queries per frame), `top1/*` on the best box.
#   python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1
#   bash tools/dist_train.sh configs/ipd/transvod-lite_dab-detr_r50_8xb1-7e_lpr4m-1cls.py 8
_base_ = ['./transvod-lite_dab-detr_r50_8xb1-7e_lpr4m.py']
num_classes = 1
train_ann = 'annotations/lpr_det_train_1cls.json'
model = dict(
    bbox_head=dict(num_classes=num_classes),
    # At most the last stage's queries x classes.
    test_cfg=dict(max_per_img=30))
train_dataloader = dict(dataset=dict(ann_file=train_ann))
val_evaluator = dict(class_agnostic=False)
test_evaluator = val_evaluator
load_from = 'work_dirs/dab-detr_r50_8xb8-20e_lpr4m-1cls/epoch_20.pth'
