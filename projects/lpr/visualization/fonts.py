"""A font for titles and ASR text, which mix Latin and Chinese."""
import functools
import os.path as osp
from typing import Optional

# Families known to cover CJK characters, in order of preference.
CJK_FONT_NAMES = ('notosanscjk', 'notoserifcjk', 'sourcehansans',
                  'wenquanyi', 'wqy', 'droidsansfallback', 'simhei',
                  'msyh', 'pingfang', 'arplumingcn', 'uming', 'ukai')


@functools.lru_cache(maxsize=None)
def cjk_font_path() -> Optional[str]:
    """Path of an installed font that covers Chinese, or ``None`` (texts
    are then drawn with matplotlib's default font, Chinese characters as
    boxes)."""
    from matplotlib import font_manager
    candidates = {}
    for path in font_manager.findSystemFonts():
        key = osp.basename(path).lower().replace('-', '').replace('_', '')
        for rank, name in enumerate(CJK_FONT_NAMES):
            if key.startswith(name):
                candidates.setdefault(rank, path)
    return candidates[min(candidates)] if candidates else None


def text_font():
    """``FontProperties`` for :meth:`Visualizer.draw_texts`, or ``None``
    for the default font."""
    path = cjk_font_path()
    if path is None:
        return None
    from matplotlib.font_manager import FontProperties
    return FontProperties(fname=path)
