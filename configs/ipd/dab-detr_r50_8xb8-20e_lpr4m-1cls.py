# The SD recipe with one "intended product" class instead of 34 categories,
# trained and evaluated on the one class (the same test file and AP as the
# 34-class config: top 100 boxes per frame, `top1/*` the best box).
#   python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1
_base_ = ['./dab-detr_r50_8xb8-20e_lpr4m.py']
num_classes = 1
train_ann = 'annotations/lpr_det_train_1cls.json'
model = dict(bbox_head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(ann_file=train_ann))
val_evaluator = dict(class_agnostic=False)
test_evaluator = val_evaluator
