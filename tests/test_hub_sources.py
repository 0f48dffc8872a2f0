"""Models and datasets by their Hugging Face Hub id, read offline from a Hugging Face cache built
here as huggingface_hub lays it out (refs/<branch or tag> holding a commit, snapshots/<commit>/
the files): they run like local folders and files, and results.json records their commits."""
import hashlib
import json

import pytest
import torch

from tests.helpers import QUICK, cl_run, results

MAIN, V1 = hashlib.sha1(b"main").hexdigest(), hashlib.sha1(b"v1").hexdigest()
DATA = hashlib.sha1(b"data").hexdigest()
TRAIN = [{"question": f"capital of country {i}?", "answer": f"city {i}"} for i in range(12)]
TEST = [{"question": f"largest city of country {i}?", "answer": f"town {i}"} for i in range(6)]
SMALL = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]


def jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def repo(hub, kind, repo_id, refs):
    """A repository of the cache `hub`: refs/<name> for each (name, commit) of `refs`; returns
    the snapshot folder of each commit, to fill."""
    root = hub / f"{kind}s--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    for ref, commit in refs.items():
        (root / "refs" / ref).write_text(commit)
    return {c: root / "snapshots" / c for c in refs.values()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, smol_tiny):
    """The cache: model acme/smol, main a tiny Llama with SmolLM2's tokenizer and tag v1 a tiny
    Llama with the char tokenizer; dataset acme/qa with data/train.jsonl, data/test.jsonl and a
    subset `small` named in its card."""
    from cl.models import tiny_llama

    hub = tmp_path_factory.mktemp("hf") / "hub"
    snapshots = repo(hub, "model", "acme/smol", {"main": MAIN, "v1": V1})
    char_model, char_tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=1)
    for commit, (model, tok) in ((MAIN, smol_tiny), (V1, (char_model, char_tok))):
        model.save_pretrained(snapshots[commit])
        tok.save_pretrained(snapshots[commit])
    folder = repo(hub, "dataset", "acme/qa", {"main": DATA})[DATA]
    jsonl(folder / "data" / "train.jsonl", TRAIN)
    jsonl(folder / "data" / "test.jsonl", TEST)
    jsonl(folder / "small" / "train.jsonl", SMALL)
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: data/train.jsonl\n  - split: test\n    path: data/test.jsonl\n"
                                      "- config_name: small\n  data_files: small/train.jsonl\n---\n")  # fmt: skip
    return hub


@pytest.fixture
def cache(hub, monkeypatch):
    """This process reads `hub` as its Hugging Face cache (what HF_HUB_CACHE sets when
    huggingface_hub is imported), offline."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub


def test_a_hub_model_and_dataset_run_from_the_cache_and_results_record_their_commits(tmp_path, hub, smol_tiny):
    (tmp_path / "conf" / "task").mkdir(parents=True)
    (tmp_path / "conf" / "task" / "qa.yaml").write_text(
        "_target_: cl.streams.file_task\nhub: acme/qa\neval_split: test\ntemplate: 'Q: {question}'\nn_eval: 4\n"
    )
    proc = cl_run(tmp_path, "--config-dir", str(tmp_path / "conf"), "model=pretrained", "model.path=acme/smol",
                  "stream.order=[qa]", "train.batch_size=2", "eval.kl.prompts=0", "logger=none", *QUICK,
                  env={"HF_HUB_CACHE": str(hub)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    n = sum(p.numel() for p in smol_tiny[0].parameters())
    assert f"({n / 1e6:.2f}M parameters" in proc.stdout  # main's model, not v1's
    out = results(tmp_path)
    assert out["sources"] == {
        "model": {"id": "acme/smol", "revision": "main", "commit": MAIN},
        "tasks": {"qa": {"id": "acme/qa", "revision": "main", "commit": DATA, "config": None}},
    }
    assert out["tasks"] == ["qa"] and len(out["R"]) == 2


def test_a_revision_that_is_a_tag_or_a_commit_resolves_to_its_snapshot(cache):
    from omegaconf import OmegaConf

    from cl.core.hub import model_folder
    from cl.models.build import pretrained, tiny_llama
    from cl.models.skeleton import skeleton

    folder, source = model_folder("acme/smol", "v1")
    assert (source.id, source.revision, source.commit) == ("acme/smol", "v1", V1)
    assert folder == cache / "models--acme--smol" / "snapshots" / V1
    assert model_folder("acme/smol", MAIN)[1].commit == MAIN  # a commit names its snapshot
    assert model_folder("acme/smol")[1].record() == {"id": "acme/smol", "revision": "main", "commit": MAIN}
    model, tok = pretrained("acme/smol", revision="v1")
    assert model.config.vocab_size == len(tok) < 1000  # v1's char model, not main's 49152 tokens
    saved = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=1)[0].state_dict()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert pretrained("acme/smol")[0].config.vocab_size == 49152
    # the model the checks of adapters and strategies build without weights comes from the same snapshot
    config = {"_target_": "cl.models.pretrained", "path": "acme/smol", "revision": "v1", "gguf_file": None}
    weightless = skeleton(OmegaConf.create(config))
    assert weightless.config.vocab_size == len(tok) and weightless.lm_head.weight.is_meta


def test_a_model_the_cache_lacks_stops_before_any_work(tmp_path, hub):
    proc = cl_run(tmp_path, "model=pretrained", "model.path=acme/missing", "logger=none", env={"HF_HUB_CACHE": str(hub)})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cl-run: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert (f"model.path 'acme/missing' is not a local folder, and the Hub model 'acme/missing' (revision main) is not "
            f"in the Hugging Face cache ({hub})") in errors[0]  # fmt: skip
    assert "`hf download acme/missing`" in errors[0] and "unset HF_HUB_OFFLINE" in errors[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        ({"path": "acme/smol", "revision": "v2"}, "the Hub model 'acme/smol' (revision v2) is not in the Hugging Face "
         "cache"),  # fmt: skip
        ({"path": "acme/smol", "gguf_file": "smol.gguf"}, f"model.path 'acme/smol' (the snapshot {{hub}}/models--acme--smol/"
         f"snapshots/{MAIN}) has no file smol.gguf (model.gguf_file)"),  # fmt: skip
        ({"path": "no_such_folder"}, "model.path 'no_such_folder' is not a directory, nor a Hub id (org/name)"),
        ({"path": "acme/smol/extra"}, "model.path 'acme/smol/extra' is not a directory, nor a Hub id"),
    ],
)
def test_the_model_check_refuses_what_cannot_be_loaded(cache, model, message):
    from omegaconf import OmegaConf

    from cl.assembly.checks.settings import check_model
    from cl.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        check_model(OmegaConf.create({"gguf_file": None, **model}))
    assert message.format(hub=cache) in str(err.value)


def test_the_model_check_passes_a_cached_model_and_refuses_a_revision_of_a_local_folder(cache, tmp_path):
    from omegaconf import OmegaConf

    from cl.assembly.checks.settings import check_model
    from cl.core.errors import ConfigError

    check_model(OmegaConf.create({"path": "acme/smol", "revision": "v1", "gguf_file": None}))
    local = cache / "models--acme--smol" / "snapshots" / MAIN
    check_model(OmegaConf.create({"path": str(local), "revision": None, "gguf_file": None}))
    with pytest.raises(ConfigError, match="model.revision=v1 picks a version of a Hub model, and model.path '.*' is a local"):
        check_model(OmegaConf.create({"path": str(local), "revision": "v1", "gguf_file": None}))


def test_a_hub_dataset_gives_the_examples_its_rows_give_from_local_files(cache, tmp_path):
    from cl.streams.files import file_task

    options = {"template": "Q: {question}", "n_train": 7, "n_eval": 3, "seed": 5}
    train, test = jsonl(tmp_path / "train.jsonl", TRAIN), jsonl(tmp_path / "test.jsonl", TEST)
    pairs = [
        (file_task("qa", hub="acme/qa", eval_split="test", **options), file_task("qa", path=train, eval_path=test, **options)),
        (file_task("qa", hub="acme/qa", **options), file_task("qa", path=train, **options)),  # held out of train
        (file_task("qa", hub="acme/qa", hub_config="small", prompt_field="question"),
         file_task("qa", path=jsonl(tmp_path / "small.jsonl", SMALL), prompt_field="question")),
        (file_task("qa", hub="acme/qa", data_files={"train": "data/train.jsonl", "test": "data/test.jsonl"},
                   eval_split="test", **options), file_task("qa", path=train, eval_path=test, **options)),
    ]  # fmt: skip
    for hub_task, file_task_ in pairs:
        assert (hub_task.train, hub_task.eval, hub_task.exact) == (file_task_.train, file_task_.eval, file_task_.exact)
        assert file_task_.source is None
    first = pairs[0][0]
    assert len(first.train) == 7 and len(first.eval) == 3 and first.eval[0][0].startswith("Q: largest city")
    assert first.check("Q: capital of country 3?", "city 3") == 1.0 and first.check("Q: capital of country 3?", "city 4") == 0
    assert first.source == {"id": "acme/qa", "revision": "main", "commit": DATA, "config": None}
    assert pairs[2][0].source["config"] == "small" and len(pairs[2][0].train + pairs[2][0].eval) == len(SMALL)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"hub": "acme/none"}, "task 'qa', dataset acme/none: the Hub dataset 'acme/none' (revision main) is not in the "
         "Hugging Face cache"),  # fmt: skip
        ({"hub": "acme/qa", "hub_revision": "v3"}, "`hf download acme/qa --repo-type dataset --revision v3`"),
        ({"hub": "acme/qa", "eval_split": "validation"}, "task 'qa', dataset acme/qa: no split 'validation'; its "
         "splits: train, test"),  # fmt: skip
        ({"hub": "acme/qa", "prompt_field": "prompt"}, "task 'qa', dataset acme/qa, split 'train': prompt_field 'prompt' "
         "is not a column; columns: question, answer"),  # fmt: skip
        ({"hub": "acme/qa", "hub_config": "large"}, "task 'qa', dataset acme/qa (subset large): cannot load it"),
        ({"hub": "acme/qa", "data_files": 3}, "data_files: give a glob pattern or a list of them, got 3"),
        ({"hub": "qa"}, "task 'qa': hub 'qa' is not a Hub dataset id (org/name"),
        ({"hub": "acme/qa", "path": "d.jsonl"}, "give path (a data file or a TRACE folder) or hub (a Hub dataset id, "
         "org/name), not both"),  # fmt: skip
        ({"hub": "acme/qa", "eval_path": "d.jsonl"}, "eval_path is for files; a Hub dataset (hub: acme/qa) has its own"),
        ({"path": "d.jsonl", "hub_revision": "v1"}, "hub_revision is for a Hub dataset (hub: org/name); this task reads "
         "the files at d.jsonl"),  # fmt: skip
        ({}, "give path (a data file or a TRACE folder) or hub (a Hub dataset id, org/name), got neither"),
    ],
)
def test_a_hub_dataset_that_cannot_be_read_stops_with_one_message(cache, options, message):
    from cl.streams.files import file_task
    from cl.streams.task import TaskDataError

    with pytest.raises(TaskDataError) as err:
        file_task("qa", prompt_field=options.pop("prompt_field", "question"), **options)
    assert message in str(err.value)
