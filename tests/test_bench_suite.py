"""The benchmark suites end to end on a tiny profile, the report built from their results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import __main__ as bench_main
from benchmarks._common import write_results
from benchmarks.report import render, write_report
from benchmarks.suite import Suite
from tests.conftest import SHARED_DATA, tiny_bench_profile

pytest.importorskip(
    "s2cloudless", reason="the suites need the bench extra: pip install -e '.[bench]'"
)
pytest.importorskip(
    "matplotlib", reason="the suites need the bench extra: pip install -e '.[bench]'"
)

if not (SHARED_DATA / "s2_l1c_clear_virginia").is_dir():
    pytest.skip(
        f"shared data {SHARED_DATA} is absent: the suites simulate over its background",
        allow_module_level=True,
    )

TINY = tiny_bench_profile()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Suite, dict[str, dict]]:
    root = tmp_path_factory.mktemp("bench")
    suite = Suite(
        profile=TINY,
        data_dir=None,  # the real images are covered by the quick/full runs, not here
        work=root / "work",
        results_root=root / "results",
        docs=root / "docs",
    )
    payloads = {}
    for name in ("accuracy", "speed", "ablation", "encoders"):
        payload = bench_main._suite_module(name).run(suite)
        write_results(name, payload, f"test {name}", folder=suite.results)
        payloads[name] = payload
    write_results(
        "run",
        {
            "profile": "tiny",
            "suites": {
                n: {
                    "seconds": 1.0,
                    "exit_code": 0,
                    "started_utc": "2026-01-01T00:00:00+00:00",
                    "command": "test run",
                }
                for n in payloads
            },
            "total_seconds": 3.0,
        },
        "test run",
        folder=suite.results,
    )
    return suite, payloads


@pytest.mark.slow
def test_accuracy_suite_scores_every_method_on_the_simulated_scene(tiny) -> None:
    suite, p = tiny
    r = p["accuracy"]
    methods = {(row["model"], row["method"]) for row in r["rows"]}
    assert methods == {
        ("sentinel2-l1c-7", "cascade"),
        ("sentinel2-l1c-7", "all"),
        ("sentinel2-l1c-7", "none"),
        ("rgbn", "cascade"),
        ("rgbn", "all"),
        ("rgbn", "none"),
        ("s2cloudless", "s2cloudless"),
        ("ukis-csmask 4b", "ukis-csmask 4b"),
        ("ukis-csmask 6b", "ukis-csmask 6b"),
    }
    # each scene scored against its exact labels and against the paper-style ones
    assert {row["group"] for row in r["rows"]} == {
        "simulated (held out)",
        "simulated (held out), paper-style labels",
    }
    for row in r["rows"]:
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == row["pixels"] > 0
        assert 0.0 <= row["accuracy"] <= 1.0
    by = {(row["model"], row["method"]): row for row in r["rows"]}
    assert by[("sentinel2-l1c-7", "none")]["patches_run"] == 0
    assert (
        by[("sentinel2-l1c-7", "cascade")]["patches_run"]
        <= by[("sentinel2-l1c-7", "all")]["patches_run"]
    )
    assert {c["model"] for c in r["coarse"]} == {"sentinel2-l1c-7", "rgbn"}
    for c in r["coarse"]:
        assert 0.0 <= c["coarse_accuracy"] <= 1.0
        assert 0.0 <= c["s_dn"] <= 1.0
    # one summary per (group, model, method), its pooled counts the sum of its rows
    assert len(r["summaries"]) == 2 * len(methods)
    for f in [r["figures"]["confusion"], *r["figures"]["panels"]]:
        assert (suite.docs / f).stat().st_size > 1000


@pytest.mark.slow
def test_speed_suite_times_every_method_and_structure(tiny) -> None:
    suite, p = tiny
    s = p["speed"]
    assert set(s["main"]["runs"]) == {"cascade", "all", "none", "s2cloudless"}
    main = s["main"]
    assert main["runs"]["none"]["patches_run"] == 0
    assert main["runs"]["all"]["patches_run"] == main["runs"]["all"]["cells_with_data"]
    assert main["speedup"] == pytest.approx(
        main["runs"]["all"]["wall_s"] / main["runs"]["cascade"]["wall_s"], rel=1e-2
    )
    assert main["peak_rss_mib_cascade"] > 100
    cog = main["cog"]  # the same scene from a COG: the coarse stage reads its overview
    assert cog["runs"]["cascade"]["coarse_input"]["from"] == "overview"
    assert main["runs"]["cascade"]["coarse_input"]["from"] == "full"
    assert cog["valid_pixels_lost"] == 0
    assert cog["mask_agree"] >= 0.99
    tiled_px = main["runs"]["cascade"]["pixels_read"]["coarse"]
    assert cog["runs"]["cascade"]["pixels_read"]["coarse"] < tiled_px
    sparse = main["cog_sparse"]  # a less cloudy scene of the same size, cascade only
    assert set(sparse["runs"]) == {"cascade"}
    assert sparse["runs"]["cascade"]["coarse_input"]["from"] == "overview"
    cas = sparse["runs"]["cascade"]
    assert sparse["routed_fraction"] == pytest.approx(
        cas["patches_run"] / cas["cells_with_data"], abs=1e-4
    )
    assert sparse["file"] != cog["file"]
    assert [r["structure"] for r in s["structures"]] == [
        "clear",
        "overcast",
        "scattered",
        "boundary-heavy",
    ]
    clear = s["structures"][0]
    # A clear scene: the coarse model finds no Partly Cloudy cell. The tiny profile's scenes
    # are 2 x 2 cells, small enough (<= 25) that the small-scene rule routes every cell anyway.
    assert clear["cells_per_class"]["partly_cloudy"] == 0
    assert clear["routed_fraction"] == 1.0
    for r in s["structures"]:
        assert r["ideal_bound"] == pytest.approx(
            1 / (r["routed_fraction"] + r["coarse_fraction"]), rel=1e-2
        )
    assert {r["megapixels"] for r in s["size_rows"]} == {0.246, 0.554}
    for f in s["figures"].values():
        assert (suite.docs / f).stat().st_size > 1000


@pytest.mark.slow
def test_ablation_suite_trains_three_losses_on_one_set(tiny) -> None:
    suite, p = tiny
    a = p["ablation"]
    assert [r["loss"] for r in a["rows"]] == [
        "CCE",
        "WCE",
        "WCE + adjacency",
        "shipped (sentinel2-l1c-7)",
    ]
    assert a["seeds"] == 1
    assert len(a["runs"]) == 3
    stage1 = a["trained"]["WCE stage 1 (seed 0)"]
    assert set(stage1["history"]) == {"wce"}
    for variant in ("CCE", "WCE", "WCE + adjacency"):
        # every arm runs both stages, so only the loss differs; the two WCE arms share the
        # first stage and start their second from its weights
        trained = a["trained"][f"{variant} (seed 0)"]
        if variant == "CCE":
            assert set(trained["history"]) == {"wce", "adjacency"}
        else:
            assert set(trained["history"]) == {"init_weights", "adjacency"}
            assert trained["history"]["init_weights"] == stage1["history"]["wce"]["best_weights"]
        recipe = (suite.work / trained["recipe"]).read_text()
        assert "gamma = " + ("1.0" if "adjacency" in variant else "0.0") in recipe
        assert 'loss_form = "' + ("earlier" if variant == "CCE" else "paper") + '"' in recipe
    for r in a["rows"]:
        assert 0.0 <= r["coarse_accuracy"] <= 1.0
        assert 0.0 <= r["pixel_accuracy"] <= 1.0
    assert a["rows"][0]["coarse_accuracy_sd"] == 0.0  # one seed


@pytest.mark.slow
def test_encoders_suite_scores_each_coarse_encoder_with_and_without_the_fine_model(tiny) -> None:
    suite, p = tiny
    e = p["encoders"]
    assert e["encoders"] == list(TINY.encoders)
    names = [r["loss"] for r in e["rows"]]
    assert names == ["ResNet-18 -> Fine", "ResNet-18 -> None", "patch baseline (all)"]
    by = {r["loss"]: r for r in e["rows"]}
    for enc in ("ResNet-18",):
        fine, none = by[f"{enc} -> Fine"], by[f"{enc} -> None"]
        # one coarse model behind both rows: the same cell classes, no fine window without it
        assert fine["coarse_accuracy"] == none["coarse_accuracy"]
        assert none["patches_run"] == 0 < fine["patches_run"]
        recipe = (suite.work / e["trained"][enc]["recipe"]).read_text()
        assert f'backbone = "{enc.lower().replace("-", "")}"' in recipe
        assert "gamma = 0.0" in recipe
        assert 'loss_form = "paper"' in recipe
        assert e["params"][enc] > 0
    # the patch baseline runs the fine model on every window of the scenes
    assert by["patch baseline (all)"]["patches_run"] >= by["ResNet-18 -> Fine"]["patches_run"]
    for r in e["rows"]:
        n = r["tp"] + r["fp"] + r["fn"] + r["tn"]
        assert r["pixel_accuracy"] == pytest.approx((r["tp"] + r["tn"]) / n, abs=1e-4)
        assert r["pixel_iou"] == pytest.approx(r["tp"] / (r["tp"] + r["fp"] + r["fn"]), abs=1e-4)
    assert e["paper"]["VGG16 -> Fine"]["accuracy"] == 0.856


@pytest.mark.slow
def test_report_holds_every_table_and_only_numbers_from_the_results(tiny) -> None:
    suite, p = tiny
    path = write_report(suite)
    assert path == suite.docs / "benchmarks-tiny.md"
    text = path.read_text()
    for heading in (
        "## Accuracy",
        "## Speed",
        "### Speed-up vs cloud structure",
        "## Loss ablation",
        "## Coarse encoders (paper Table III)",
    ):
        assert heading in text
    assert "Command: `test run`" in text
    # every picture linked exists
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (suite.docs / link).is_file(), link
    # the headline numbers are the results files' numbers
    main = p["speed"]["main"]
    assert f"**{main['speedup']}x**" in text
    assert "| VGG16 -> Fine | 0.856 | 0.810 | 0.711 | 0.711 | 0.597 |" in text  # the paper's row
    cce = p["ablation"]["rows"][0]
    assert f"| CCE | {cce['coarse_accuracy']:.4f} |" in text  # one seed: no ± part
    stored = json.loads((suite.results / "speed.json").read_text())
    assert stored["main"]["speedup"] == main["speedup"]
    assert stored["machine"]["cores"] >= 1
    assert stored["command"] == "test speed"


def test_report_without_results_says_how_to_make_them(tmp_path: Path) -> None:
    suite = Suite(profile=TINY, data_dir=None, results_root=tmp_path, docs=tmp_path)
    with pytest.raises(SystemExit, match="python -m benchmarks run tiny"):
        render(suite)


def test_runner_rejects_unknown_suites_and_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.main(["run", "quick", "--only", "accuracy,sped"])
    assert exc.value.code == 2
    assert "unknown suite(s) ['sped']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        bench_main.main(["run", "medium"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit, match="unknown profile 'medium'"):
        Suite.create("medium")
    with pytest.raises(SystemExit, match=r"s2_l1c_clear_virginia is absent\); pass --data-dir"):
        Suite.create("quick", data_dir="/nonexistent")


def test_block_mean_averages_valid_pixels_of_each_block() -> None:
    """s2cloudless's input pooling against a plain loop, edges and No Data included."""
    import numpy as np

    from benchmarks.suite_speed import _block_mean

    rng = np.random.default_rng(3)
    dn = rng.integers(1, 9000, (2, 7, 10)).astype(np.uint16)
    dn[:, 0, :3] = 0  # No Data
    dn[:, 4:, 8:] = 0  # a whole 3 x 3 block of No Data (bottom right)
    got = _block_mean(dn, 3)
    assert got.shape == (2, 3, 4)
    for i in range(3):
        for j in range(4):
            block = dn[:, 3 * i : 3 * i + 3, 3 * j : 3 * j + 3].astype(np.float64)
            ok = block[0] != 0
            want = block[:, ok].mean(axis=1) if ok.any() else np.zeros(2)
            np.testing.assert_allclose(got[:, i, j], want, rtol=1e-6)
    assert (got[:, 2, 3] == 0).all()


def test_benchmark_profiles_evaluate_on_held_out_seeds_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: no benchmark scene is a scene the shipped models were trained on."""
    from dataclasses import replace

    from benchmarks.suite import PROFILES, check_profile_seeds
    from cascade.errors import SimulationError
    from cascade.models.pretrained import PRETRAINED_DIR
    from training import heldout
    from training.heldout import seed_of_scene, training_seeds

    seeds = training_seeds()
    for name, trained in seeds.items():  # every scene the sidecars name is counted
        for role in ("coarse", "fine"):
            sidecar = json.loads((PRETRAINED_DIR / name / f"{role}.json").read_text())
            scenes = sidecar["provenance"].get("data", {}).get("scenes", {})
            assert {seed_of_scene(n) for n in scenes} - {None} <= trained
    # Both pairs (retrained 2026-12-01) learnt from Biome patches, real backgrounds and
    # composed scenes, none of them a simulated scene; the first sentinel2-l1c-7 pair learnt
    # from the simulator's seeds 0-39, which is what the checks below stand in for.
    assert seeds == {"rgbn": set(), "sentinel2-l1c-7": set()}
    for profile in [*PROFILES.values(), tiny_bench_profile()]:
        check_profile_seeds(profile)
    monkeypatch.setattr(heldout, "training_seeds", lambda: {"sentinel2-l1c-7": set(range(40))})
    with pytest.raises(
        SimulationError, match=r"accuracy suite's scenes use .* 10-12 trained sentinel2"
    ):
        check_profile_seeds(replace(PROFILES["full"], seed=10))
    with pytest.raises(SimulationError, match=r"30 trained sentinel2-l1c-7 \(0-39\)"):
        check_profile_seeds(replace(PROFILES["quick"], seed=30))
    from benchmarks import suite

    monkeypatch.setattr(suite, "ABLATION_EVAL_SEED", 701)  # among the ablation's own
    with pytest.raises(SystemExit, match=r"the ablation evaluates on seeds \[701\]"):
        Suite.create("quick")
