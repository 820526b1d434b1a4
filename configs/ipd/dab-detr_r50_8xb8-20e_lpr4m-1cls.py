# The SD recipe with one "intended product" class instead of 34 categories.
#   python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1
_base_ = ['./dab-detr_r50_8xb2-20e_lpr4m.py']
num_classes = 1
train_ann = 'annotations/lpr_det_train_1cls.json'
test_ann = 'annotations/lpr_det_test_1cls.json'
model = dict(bbox_head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(ann_file=train_ann))
val_dataloader = dict(dataset=dict(ann_file=test_ann))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=f'data/lpr4m/{test_ann}')
test_evaluator = val_evaluator
