"""Config set-up shared by tools/train.py and tools/test.py."""
import os
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log

from ..compat import adapt_cfg_to_cpu_distributed, init_cpu_process_group
from .data_root import set_data_root

DATA_ROOT_HELP = (
    'read every dataset of the config (training, validation, test, query '
    'and gallery sets, detection COCO files, box files) from this folder; '
    'paths in the config relative to its data root follow. Same as '
    '--cfg-options data_root=PATH')


def set_local_rank(args) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def add_data_root_argument(parser) -> None:
    """Add ``--data-root PATH`` to a tool's argument parser."""
    parser.add_argument('--data-root', metavar='PATH', help=DATA_ROOT_HELP)


def load_tool_config(args) -> Config:
    """Load ``args.config`` and apply the arguments both tools share:
    ``--launcher``, ``--cfg-options``, ``--data-root`` and ``--work-dir``
    (default ``./work_dirs/<config name>``). ``--data-root PATH`` (or
    ``--cfg-options data_root=PATH``) is applied to every dataset with
    :func:`~lpr.utils.set_data_root` before the other options, so that
    per-key options still override it. With ``--launcher pytorch`` and no GPU,
    a gloo process group is started and the config adapted to CPU DDP."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    options = dict(args.cfg_options or {})
    # The general root first, so that per-key options given with it win.
    new_root = options.pop('data_root', None)
    new_root = getattr(args, 'data_root', None) or new_root
    if new_root:
        changed = set_data_root(cfg, new_root)
        print_log(f'data root {cfg.data_root}: {len(changed)} config '
                  'entries point at it', logger='current')
    if options:
        cfg.merge_from_dict(options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.launcher == 'pytorch' and init_cpu_process_group():
        # No GPU: the gloo process group is already up; mmengine reuses it.
        adapt_cfg_to_cpu_distributed(cfg)
    return cfg
