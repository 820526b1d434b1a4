"""tools/misc/check_lpr4m.py: a good release passes (exit 0); missing
frames, images or annotation files and broken frames fail (exit 1) and are
listed."""
import glob
import json
import os
import os.path as osp
import shutil

import pytest

from conftest import load_script

SHARDS = [
    '--shards', '--train-frames', 'shards/training_frame_url_full_*',
    '--train-images', 'shards/training_image_url_full_*', '--test-frames',
    'shards/test_frame_url_*', '--test-images', 'shards/test_image_url_*'
]


@pytest.fixture(scope='module')
def check():
    return load_script('tools/misc/check_lpr4m.py').main


@pytest.mark.parametrize('layout', ['folders', 'shards'])
def test_good_release_passes(check, toy_pixel_root, capsys, layout):
    argv = [toy_pixel_root] + (SHARDS if layout == 'shards' else [])
    assert check(argv) == 0
    out = capsys.readouterr().out
    assert '[FAIL]' not in out and '[WARN]' not in out
    assert 'boxes: pixel (3 files)' in out
    assert 'training frames: 144 of 144 present' in out
    assert 'test GT boxes: 33 boxes of 27 frames, pixel, 0 dropped' in out
    assert "98 sampled pixel boxes checked against their frames' original " \
        'size, 0 reach outside' in out
    assert out.rstrip().endswith('OK: training and testing can read this '
                                 'release')


def test_damaged_release_fails_and_lists_files(check, toy_root, tmp_path,
                                               capsys):
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    clip_dir = sorted(glob.glob(osp.join(root, 'training_frames', '*')))[0]
    lost = sorted(osp.basename(p)[:-4] for p in os.listdir(clip_dir))
    shutil.rmtree(clip_dir)
    os.remove(glob.glob(osp.join(root, 'annotations',
                                 'test_image_title_*'))[0])
    gallery = sorted(glob.glob(osp.join(root, 'test_images', '*.jpg')))
    os.remove(gallery[0])
    frame = sorted(glob.glob(osp.join(root, 'test_frames', '*', '*.jpg')))[0]
    with open(frame, 'r+b') as f:
        f.truncate(osp.getsize(frame) // 2)
    assert check([root, '--max-list', '2']) == 1
    out = capsys.readouterr().out
    n = len(lost)
    assert (f'[FAIL] training frames: {144 - n} of 144 present, {n} missing'
            in out)
    assert lost[0] in out and lost[1] in out and lost[2] not in out
    assert f'... and {n - 2} more ({n} in all)' in out
    assert '[FAIL] test annotations: 1 of 6 files missing' in out
    assert 'expected one test_image_title_* file' in out
    assert ('[FAIL] test gallery images: 11 of 12 present, 1 missing' in out)
    assert osp.basename(gallery[0])[:-4] in out
    assert f'{osp.basename(frame)[:-4]}: truncated' in out
    assert out.rstrip().endswith('FAIL: fix the [FAIL] lines before '
                                 'training or testing')
    # The same loss under an accepted ratio is a warning, not a failure.
    os.remove(frame)
    assert check([root, '--skip', 'test', '--max-drop-ratio', '0.1']) == 0
    assert '[WARN] training frames' in capsys.readouterr().out


def test_query_missing_from_its_gallery_is_reported(check, toy_root,
                                                    tmp_path, capsys):
    """The gallery check reads the GT and gallery JSON files and names the
    gallery file, not the annotation folder."""
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    ann = osp.join(root, 'annotations')
    gallery_file = glob.glob(osp.join(ann, 'test_liveid_to_gallery_*'))[0]
    gt_file = glob.glob(osp.join(ann, 'test_videoid_to_gtimage_*'))[0]
    with open(gt_file) as f:
        gt = json.load(f)
    with open(gallery_file) as f:
        gallery = json.load(f)
    clip = sorted(gt)[0]
    image = gt[clip][0]
    live = next(k for k, v in gallery.items() if image in v)
    assert clip.startswith(live)  # LPR4M clip ids begin with the live id
    gallery[live].remove(image)
    with open(gallery_file, 'w') as f:
        json.dump(gallery, f)
    assert check([root, '--skip', 'train']) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if 'test queries vs gallery' in x)
    assert line.startswith('[FAIL]')
    assert gallery_file in line
    assert f'image {image} of query {clip}' in line
    assert f'{ann}:' not in line
    assert "every GT image in its live's gallery" not in out


def test_folder_coverage_lists_each_folder_once(check, toy_root, tmp_path,
                                                capsys, monkeypatch):
    """Folder coverage lists each clip folder once (no ``stat`` per frame),
    shows a progress bar and still reports a single missing frame."""
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    clips = sorted(glob.glob(osp.join(root, 'training_frames', '*')))
    lost = sorted(os.listdir(clips[1]))[0]
    os.remove(osp.join(clips[1], lost))
    listed, stats = [], []
    real_listdir, real_exists = os.listdir, os.path.exists

    def listdir(path='.'):
        listed.append(osp.normpath(path))
        return real_listdir(path)

    def exists(path):
        if str(path).endswith('.jpg'):
            stats.append(path)
        return real_exists(path)

    monkeypatch.setattr(os, 'listdir', listdir)
    monkeypatch.setattr(os.path, 'exists', exists)
    assert check([root, '--decode-sample', '0']) == 0  # 1 of 144: under 1 %
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert not stats
    test_clips = glob.glob(osp.join(root, 'test_frames', '*'))
    folders = clips + test_clips + [
        osp.join(root, 'training_images'), osp.join(root, 'test_images')]
    assert sorted(listed) == sorted(osp.normpath(p) for p in folders)
    assert ('[WARN] training frames: 143 of 144 present, 1 missing' in
            captured.out)
    assert lost[:-4] in captured.out
    assert 'test frames: ' in captured.out and '[FAIL] test' not in \
        captured.out
    assert (f'training frames: listing folders: {len(clips)}/{len(clips)} '
            'folders' in captured.err)


def test_bad_arguments(check, toy_root, tmp_path, capsys):
    assert check([str(tmp_path / 'nothing')]) == 1
    assert 'is not a folder' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='matches 0 folders'):
        check([toy_root, '--shards', '--train-frames', 'shards/nope_*'])
