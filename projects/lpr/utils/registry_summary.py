from typing import Dict, List


def registered_modules() -> Dict[str, List[str]]:
    """Names of the plugin's modules in the OpenMMLab registries.

    Returns:
        dict: ``'<scope>.<REGISTRY>'`` → sorted names of the classes and
        functions defined in the ``lpr`` package.
    """
    import mmdet.registry as det
    import mmpretrain.registry as cls

    out: Dict[str, List[str]] = {}
    for scope, module in (('mmpretrain', cls), ('mmdet', det)):
        for attr in dir(module):
            registry = getattr(module, attr)
            if not hasattr(registry, 'module_dict') or not attr.isupper():
                continue
            names = sorted(
                name for name, obj in registry.module_dict.items()
                if getattr(obj, '__module__', '').startswith('lpr.'))
            if names:
                out[f'{scope}.{attr}'] = names
    return out
