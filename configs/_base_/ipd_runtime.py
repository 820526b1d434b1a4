# mmdet's default runtime for the intended-product detectors, with pictures:
# tools/test.py --show-dir draws frames with GT (green) and predicted boxes,
# each clip of the multi-frame detector as one strip.
_base_ = 'mmdet::_base_/default_runtime.py'
default_hooks = dict(visualization=dict(type='ClipVisualizationHook'))
visualizer = dict(
    type='LPRVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer')
