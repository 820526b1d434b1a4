"""Config set-up shared by tools/train.py and tools/test.py."""
import os
import os.path as osp

from mmengine.config import Config

from ..compat import adapt_cfg_to_cpu_distributed, init_cpu_process_group


def set_local_rank(args) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def load_tool_config(args) -> Config:
    """Load ``args.config`` and apply the arguments both tools share:
    ``--launcher``, ``--cfg-options`` and ``--work-dir`` (default
    ``./work_dirs/<config name>``). With ``--launcher pytorch`` and no GPU,
    a gloo process group is started and the config adapted to CPU DDP."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.launcher == 'pytorch' and init_cpu_process_group():
        # No GPU: the gloo process group is already up; mmengine reuses it.
        adapt_cfg_to_cpu_distributed(cfg)
    return cfg
