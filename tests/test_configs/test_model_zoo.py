"""The metafiles: every config has an entry, every entry's config exists,
the OpenMMLab fields are filled, results are numbers the documents report,
mim's parser reads them, and the generated tables are up to date."""
import glob
import os.path as osp
import re
import runpy
import shutil

import pytest
import torch

from conftest import ROOT

GEN = runpy.run_path(osp.join(ROOT, 'tools/misc/gen_model_zoo_tables.py'))
COLLECTIONS, MODELS = GEN['load_index'](ROOT)


def test_every_config_has_an_entry_and_every_entry_a_config():
    configs = {
        osp.relpath(p, ROOT)
        for d in ('rice', 'ipd')
        for p in glob.glob(osp.join(ROOT, 'configs', d, '*.py'))
    }
    assert len(configs) >= 19
    listed = {m['Config'] for m in MODELS}
    assert configs - listed == set(), 'configs without a metafile entry'
    for model in MODELS:
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Name']
        # A model's metafile lives next to its config.
        assert osp.dirname(model['Config']) == osp.dirname(
            model['_metafile']), model['Name']


def test_openmmlab_fields():
    names = [m['Name'] for m in MODELS]
    assert len(names) == len(set(names)), 'model names must be unique'
    collections = {c['Name']: c for c in COLLECTIONS}
    for coll in COLLECTIONS:
        assert re.match(r'https://arxiv\.org/abs/\d{4}\.\d{5}$',
                        coll['Paper']['URL']), coll['Name']
        assert coll['Paper']['Title'] and coll['Code']['URL']
    for model in MODELS:
        name = model['Name']
        assert model['In Collection'] in collections, name
        meta = model['Metadata']
        for key in ('Training Data', 'Batch Size', 'Architecture'):
            assert meta.get(key), (name, key)
        assert ('Epochs' in meta) != ('Iterations' in meta), name
        assert 'Weights' in model, name
        assert model['Weights'] is None or model['Weights'].startswith(
            'https://'), name
        for result in model.get('Results', []):
            assert result['Task'] and result['Dataset'], name
            assert result['Metrics'], name
            for value in result['Metrics'].values():
                assert isinstance(value, (int, float)), (name, value)


def documented_text() -> str:
    """README (without the generated block) and docs/*.md (without the
    generated page): where measured numbers are reported."""
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    start, end = readme.find(GEN['BEGIN']), readme.find(GEN['END'])
    assert 0 <= start < end
    texts = [readme[:start] + readme[end:]]
    for path in glob.glob(osp.join(ROOT, 'docs', '*.md')):
        if osp.basename(path) != 'model_zoo.md':
            with open(path) as f:
                texts.append(f.read())
    return '\n'.join(texts)


def test_results_are_reported_numbers():
    """No number in a metafile that a document does not report: each
    result's metrics appear, in order, on one line of a results table."""
    lines = documented_text().splitlines()
    measured = [m for m in MODELS if m.get('Results')]
    assert len(measured) >= 4
    for model in measured:
        for result in model['Results']:
            values = [f'{v}' for v in result['Metrics'].values()]
            pattern = r'.*\|.*'.join(
                r'\b' + re.escape(v) + r'\b' for v in values)
            assert any(re.search(pattern, line) for line in lines
                       if line.startswith('|')), (model['Name'], values)
    # Recipes that were not trained here carry no results.
    for model in MODELS:
        if 'toy' not in model['Name']:
            assert not model.get('Results'), model['Name']


def test_mim_reads_the_index():
    load = pytest.importorskip('modelindex.load_model_index').load
    index = load(osp.join(ROOT, 'model-index.yml'))
    assert sorted(m.name for m in index.models) == sorted(
        m['Name'] for m in MODELS)
    search = pytest.importorskip('mim.commands.search')
    frame = search.convert2df(index)
    assert frame.loc['rice_r18-slim_1xb32-18e_toy-lpr4m',
                     'toy lpr4m (demo preset, test split)/r@1'] == 31.2


def test_generated_tables_are_up_to_date():
    for path, text in GEN['outputs'](ROOT).items():
        with open(path) as f:
            assert f.read() == text, (
                f'{path} is stale: python tools/misc/gen_model_zoo_tables.py')


def test_generator_needs_the_readme_markers(tmp_path):
    shutil.copy(osp.join(ROOT, 'model-index.yml'), tmp_path)
    for model in MODELS:
        dst = tmp_path / model['_metafile']
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(ROOT, model['_metafile']), dst)
    (tmp_path / 'README.md').write_text('# LPR\n')
    with pytest.raises(ValueError, match='README.md: the markers'):
        GEN['outputs'](str(tmp_path))


def test_toy_flops_match_the_counter():
    tool = runpy.run_path(osp.join(ROOT, 'tools/analysis_tools/get_flops.py'))
    from mmengine.config import Config
    model = next(m for m in MODELS
                 if m['Name'] == 'rice_r18-slim_1xb32-18e_toy-lpr4m')
    cfg = Config.fromfile(osp.join(ROOT, model['Config']))
    rice = tool['build_model'](cfg).eval()
    size = model['Metadata']['Input Size']
    flops = tool['count'](rice, lambda x: rice.extract_image(x)[0],
                          [torch.zeros(1, 3, size, size)])['total']
    assert flops == model['Metadata']['FLOPs']
    assert model['Metadata']['Parameters'] == sum(
        p.numel() for p in rice.parameters())
