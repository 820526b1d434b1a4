"""The multi-frame detector takes its clip structure from the data samples:
B clips batched equal each clip alone, flat frames need their clip ids,
and every ambiguous batch is refused."""
import pytest
import torch
from md_fixtures import H, W, build_md, frame_sample, make_clip, preprocess

from lpr.models.detectors.clip_batch import split_clips


def flat(inputs, tracks):
    """The same batch as (B·T, 3, H, W) frames and B·T DetDataSamples."""
    return inputs.flatten(0, 1), [f for t in tracks for f in t]


def test_two_clips_batched_equal_each_clip_alone():
    model = build_md()
    with torch.no_grad():
        both = model._forward(*preprocess(model, [make_clip(1, 3),
                                                  make_clip(2, 3)]))
        alone = [model._forward(*preprocess(model, [make_clip(v, 3)]))
                 for v in (1, 2)]
    assert len(both) == 3
    for stage, (cls, boxes) in enumerate(both):
        assert cls.shape[:2] == (6, (20, 15, 10)[stage])
        for i, one in enumerate(alone):
            torch.testing.assert_close(cls[3 * i:3 * i + 3], one[stage][0],
                                       atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(boxes[3 * i:3 * i + 3],
                                       one[stage][1], atol=1e-5, rtol=1e-5)
    # The clips differ, so equality is not trivial.
    assert not torch.allclose(both[-1][0][:3], both[-1][0][3:], atol=1e-3)


def test_flat_frames_with_clip_ids_equal_the_clip_batch():
    model = build_md()
    inputs, tracks = preprocess(model, [make_clip(1, 3), make_clip(2, 3)])
    with torch.no_grad():
        clips = model._forward(inputs, tracks)
        frames = model._forward(*flat(inputs, tracks))
    for (c1, b1), (c2, b2) in zip(clips, frames):
        torch.testing.assert_close(c1, c2, atol=0, rtol=0)
        torch.testing.assert_close(b1, b2, atol=0, rtol=0)
    batch = split_clips(*flat(inputs, tracks))
    assert batch.num_clips == 2 and batch.clip_length == 3
    # predict writes each flat frame's boxes to its own sample.
    with torch.no_grad():
        out = model.predict(*flat(inputs, tracks))
    assert len(out) == 6
    assert all(len(s.pred_instances.bboxes) == 10 for s in out)


def test_flat_frames_without_clip_ids_are_refused():
    model = build_md()
    inputs, tracks = preprocess(model, [make_clip(1, 3, with_id=False)])
    frames, samples = flat(inputs, tracks)
    assert all('video_id' not in s.metainfo for s in samples)
    with pytest.raises(ValueError, match="no 'video_id'") as err:
        model._forward(frames, samples)
    assert 'TrackDataSample' in str(err.value)
    with torch.no_grad(), pytest.raises(ValueError, match="no 'video_id'"):
        model.predict(frames, samples)
    with pytest.raises(ValueError, match="no 'video_id'"):
        model.loss(frames, samples)


def _flat_samples(ids):
    return [frame_sample(v, t) for t, v in enumerate(ids)]


@pytest.mark.parametrize('ids, match', [
    ((1, 1, 2, 2, 1, 1), "clip 1 are not consecutive"),
    ((1, 1, 1, 2, 2), r"unequal length \{1: 3, 2: 2\}"),
])
def test_ambiguous_flat_clips_are_refused(ids, match):
    frames = torch.zeros(len(ids), 3, H, W)
    with pytest.raises(ValueError, match=match):
        split_clips(frames, _flat_samples(ids))


def test_flat_clips_of_one_id_each_are_accepted():
    frames = torch.zeros(6, 3, H, W)
    batch = split_clips(frames, _flat_samples((4, 4, 7, 7, 9, 9)))
    assert batch.num_clips == 3 and batch.clip_length == 2
    assert batch.frames is frames


def _tracks(num_clips, num_frames):
    return [make_clip(v, num_frames)[1] for v in range(num_clips)]


def test_clip_inputs_must_match_their_samples():
    clips = torch.zeros(2, 3, 3, H, W)
    with pytest.raises(ValueError, match='B=2 takes 2 TrackDataSamples, '
                       'got 1'):
        split_clips(clips, _tracks(1, 3))
    with pytest.raises(ValueError, match=r"\['DetDataSample'\]"):
        split_clips(clips, [frame_sample(0, 0), frame_sample(0, 1)])
    with pytest.raises(ValueError, match='clip 1 has 2 frame samples for '
                       'T=3'):
        split_clips(clips, [make_clip(0, 3)[1], make_clip(1, 2)[1]])
    mixed = _tracks(2, 3)
    mixed[1].video_data_samples[2].set_metainfo(dict(video_id=5))
    with pytest.raises(ValueError, match=r'clip 1 mixes frames of the '
                       r'clips \[1, 5\]'):
        split_clips(clips, mixed)
    batch = split_clips(clips, _tracks(2, 3))
    assert batch.frames.shape == (6, 3, H, W) and batch.num_clips == 2
    assert [s.img_id for s in batch.samples] == [0, 1, 2, 100, 101, 102]


def test_inputs_without_structure_are_refused():
    with pytest.raises(ValueError, match='needs the data samples'):
        split_clips(torch.zeros(1, 3, 3, H, W), None)
    with pytest.raises(ValueError, match=r'shape \(3, 64, 96\)'):
        split_clips(torch.zeros(3, H, W), [frame_sample(0, 0)])
    with pytest.raises(ValueError, match='N=2 takes 2 DetDataSamples, got '
                       r"1 \['TrackDataSample'\]"):
        split_clips(torch.zeros(2, 3, H, W), _tracks(1, 2))
    with pytest.raises(ValueError, match='needs the data samples'):
        build_md()._forward(torch.zeros(1, 2, 3, H, W))
