"""The demo accounts as users see them, and the dataset files a user writes.

The demo accounts are a data file (monitor/simulator/demo-accounts.yaml). The
figures below were captured from the demo as the Python code that built it
before that file existed produced them: account names and credentials, each
service package's type, expiry (relative to "now") and figures, every voice,
avatar, image and small-sample image by key with its dates, and the actions per
image. An asset the file loses, gains or changes fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.simulator import DEMO_ACCOUNTS, DatasetError, default_dataset, load_dataset
from monitor.simulator.records import BEIJING

# Not on a whole minute: a relative date keeps the seconds, the vendor's absolute ones do not.
NOW = datetime(2026, 3, 1, 4, 0, 17, tzinfo=UTC)
LATER = datetime(2031, 7, 9, 17, 33, 29, tzinfo=UTC)


def _offset(seconds: float, raw: object) -> str:
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{int(seconds // size):+d}{unit}"
    return str(raw)  # an absolute date: as the vendor wrote it


def _when(record: dict[str, Any], key: str, now: datetime) -> str:
    if key not in record:
        return "absent"
    value = record[key]
    if value == "":
        return "never"
    if isinstance(value, int):
        return _offset(value / 1000 - now.timestamp(), value)
    moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    return _offset((moment - now).total_seconds(), value)


def _figures(detail: dict[str, Any]) -> str:
    if "OrderMilliseconds" in detail:
        left, bought = detail["RemainMilliseconds"], detail["OrderMilliseconds"]
        return f"{left / 3_600_000!r}/{bought / 3_600_000!r} h"
    if "Concurrency" in detail:
        return f"x{detail['Concurrency']}"
    return f"{detail['RemainNum']}/{detail['CustomizationNum']}"


def _details(service: dict[str, Any]) -> dict[str, str]:
    """The figures of each detail object: ``universal``, and ``own`` (``own[]`` an array)."""
    out: dict[str, str] = {}
    for key, value in service.items():
        if key.endswith("InfoDetail"):
            name = "universal" if key.startswith("Universal") else "own"
            if isinstance(value, list):
                out[f"{name}[]"] = _figures(value[0])
            else:
                out[name] = _figures(value)
    return out


def _summary(now: datetime) -> dict[str, dict[str, Any]]:
    return {
        account.name: {
            "appkey": account.appkey,
            "gateway": account.gateway,
            "services": [
                (s["ServiceType"], _when(s, "ExpireDate", now), _details(s))
                for s in account.services
            ],
            "timbres": [(t["TimbreKey"], _when(t, "ExpireDate", now)) for t in account.timbres],
            "anchors": [(a["AnchorCode"], a["VirtualmanTypeCode"]) for a in account.anchors],
            "images": [
                (i["VirtualmanKey"], i["AnchorCode"], _when(i, "ExpireDate", now))
                for i in account.images
            ],
            "small_sample_images": [
                (i["VirtualmanKey"], _when(i, "EffectiveTime", now), _when(i, "ExpireTime", now))
                for i in account.small_sample_images
            ],
            "actions": {key: len(actions) for key, actions in account.actions.items()},
        }
        for account in default_dataset(now).accounts
    }


DEMO: dict[str, dict[str, Any]] = {
    "xinghe-live": {
        "appkey": "ak-xinghe-live-demo-0001",
        "gateway": "gw.tvs.qq.com",
        "services": [
            ("BroadcastHour", "+5d", {"universal": "15.0/500.0 h", "own": "15.0/500.0 h"}),
            ("BroadcastHour", "+200d", {"universal": "920.5/1000.0 h", "own": "920.5/1000.0 h"}),
            ("BroadcastConcurrency", "+60d", {"universal": "x10", "own": "x10"}),
            ("InteractConcurrency", "+25d", {"universal": "x4", "own": "x4"}),
            ("RealMan2DBroadcastHour", "+12d", {"universal": "0.0/100.0 h", "own": "0.0/100.0 h"}),
            ("RealMan2DBroadcastConcurrency", "+2d", {"universal": "x3", "own": "x3"}),
            (
                "RealMan3DBroadcastHour",
                "+60d",
                {"universal": "62.3/100.0 h", "own": "62.3/100.0 h"},
            ),
            ("RealMan3DInteractConcurrency", "-3d", {"universal": "x2", "own": "x2"}),
            ("ImageAsset", "+200d", {"universal": "0/10", "own": "0/10"}),
            ("TimbreAsset", "+60d", {"universal": "2/5", "own": "2/5"}),
            ("TimbreHour", "+25d", {"universal": "41.0/100.0 h", "own[]": "41.0/100.0 h"}),
            ("Lite3DBroadcastHour", "+12d", {"universal": "150.0/200.0 h"}),
            (
                "SmallSampleGeneral2DBroadcastHour",
                "-3d",
                {"universal": "120.0/500.0 h", "own": "120.0/500.0 h"},
            ),
            ("SmallSampleGeneral2DBroadcastConcurrency", "+200d", {"universal": "x5"}),
            ("Cartoon3DBroadcastHour", "+60d", {"universal": "8.0/100.0 h", "own": "8.0/100.0 h"}),
        ],
        "timbres": [
            ("xh_anchor_female", "+12d"),
            ("female_1", "never"),
            ("male_11", "absent"),
            ("xh_promo_male", "-3d"),
            ("xh_cantonese", "+200d"),
        ],
        "anchors": [
            ("xh_lina", "real_man_2d"),
            ("xh_ajie", "real_man_3d"),
            ("xh_xiaoxing", "small_sample_2d"),
            ("xh_xiaoxing_lite", "small_sample_lite_2d"),
            ("xh_xingbao", "cartoon_3d"),
        ],
        "images": [
            ("3f9a2c1b7e6d4c5b9a8f7e6d5c4b3a21", "xh_lina", "+60d"),
            ("8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a", "xh_lina", "+200d"),
            ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "xh_ajie", "+25d"),
            ("5c1e0b7a9d3f4e2a8b6c1d0e9f8a7b6c", "xh_xiaoxing", "+5d"),
            ("c0ffee00d15ea5e0b16b00b1e5a1e2d3", "xh_xiaoxing_lite", "+2d"),
            ("0b5e7a3c9d1f4e6a8c2b4d6f8a0c2e4f", "xh_xingbao", "+200d"),
        ],
        "small_sample_images": [
            ("5c1e0b7a9d3f4e2a8b6c1d0e9f8a7b6c", "-360d", "+5d"),
            ("e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4", "-368d", "-3d"),
        ],
        "actions": {"a1b2c3d4e5f60718293a4b5c6d7e8f90": 7, "0b5e7a3c9d1f4e6a8c2b4d6f8a0c2e4f": 5},
    },
    "lanjing-studio": {
        "appkey": "ak-lanjing-studio-demo-0002",
        "gateway": "gw.tvs.qq.com",
        "services": [
            (
                "BroadcastHour",
                "2024-04-05 11:31:07",
                {
                    "own": "244.81066416666667/277.7777775 h",
                    "universal": "244.81066416666667/277.7777775 h",
                },
            ),
            ("ImageAsset", "2024-04-11 14:59:46", {"own": "0/5", "universal": "0/5"}),
            (
                "NoTrainVideoBroadcastHour",
                "+25d",
                {"universal": "200.0/500.0 h", "own": "200.0/500.0 h"},
            ),
            ("NoTrainVideoBroadcastConcurrency", "+25d", {"universal": "x2", "own": "x2"}),
            (
                "SmallSample4K2DBroadcastHour",
                "+12d",
                {"universal": "97.0/100.0 h", "own": "97.0/100.0 h"},
            ),
            ("SmallSample4K2DImageAsset", "+200d", {"universal": "1/3", "own": "1/3"}),
            ("SmallSamplePhoto2DImageAsset", "+60d", {"universal": "17/20", "own": "17/20"}),
            (
                "SmallSamplePhoto2DBroadcastHour",
                "+2d",
                {"universal": "20.0/1000.0 h", "own": "20.0/1000.0 h"},
            ),
            ("SmallSampleImageRenewalAsset", "+60d", {"universal": "5/5", "own": "5/5"}),
            ("ZeroShotTimbreAsset", "+5d", {"universal": "4/10", "own": "4/10"}),
            ("SmallSample4K2DBroadcastConcurrency", "-3d", {"universal": "x1", "own": "x1"}),
        ],
        "timbres": [
            ("female_1", "2025-09-01 18:00:00"),
            ("male_11", "never"),
            ("lj_narrator", "+200d"),
        ],
        "anchors": [
            ("xiaowei", "real_man_3d"),
            ("wl_pink_skirt_suit_stand", "small_sample_2d"),
            ("lj_yunxi", "small_sample_4k_2d"),
            ("lj_laochen", "small_sample_photo_2d"),
            ("lj_anan", "small_sample_general_2d"),
        ],
        "images": [
            ("2cc66ae2950e4968880676a055013234", "wl_pink_skirt_suit_stand", "2024-03-13 21:37:02"),
            ("fe880d9385304e688f9a8e469370fc90", "wl_pink_skirt_suit_stand", "2024-03-13 21:37:02"),
            ("8af9c7a960ab44c9bfe8a48deae6a250", "xiaowei", "+200d"),
            ("4b4c2e1f0a9d8c7b6a5f4e3d2c1b0a99", "lj_yunxi", "+12d"),
            ("7f6e5d4c3b2a19081726354453627180", "lj_laochen", "+60d"),
            ("99aa88bb77cc66dd55ee44ff33001122", "lj_anan", "+25d"),
        ],
        "small_sample_images": [
            ("d3bf659f364243ceacbe026710bdc25f", "1698734984000", "1699944584000"),
            ("4b4c2e1f0a9d8c7b6a5f4e3d2c1b0a99", "-353d", "+12d"),
            ("99aa88bb77cc66dd55ee44ff33001122", "-340d", "+25d"),
        ],
        "actions": {"8af9c7a960ab44c9bfe8a48deae6a250": 18},
    },
    "horizon-sg": {
        "appkey": "ak-horizon-sg-demo-0003",
        "gateway": "gw-sg.tvs.qq.com",
        "services": [
            (
                "HalfRealistic3DBroadcastHour",
                "+60d",
                {"universal": "705.0/1000.0 h", "own": "705.0/1000.0 h"},
            ),
            ("HalfRealistic3DInteractConcurrency", "+60d", {"universal": "x3", "own": "x3"}),
            ("HalfRealistic3DBroadcastConcurrency", "+60d", {"universal": "x2", "own": "x2"}),
            ("Cartoon3DInteractConcurrency", "+12d", {"universal": "x1", "own": "x1"}),
            (
                "Cartoon3DBroadcastHour",
                "+12d",
                {"universal": "100.0/100.0 h", "own": "100.0/100.0 h"},
            ),
            ("RealMan2DBroadcastConcurrency", "+200d", {"own": "0.0/0.0 h", "universal": "x2"}),
            ("SmallSampleGeneral2DImageAsset", "+25d", {"universal": "3/5", "own": "3/5"}),
            ("SmallSampleGeneral2DInteractConcurrency", "+25d", {"universal": "x2", "own": "x2"}),
            ("SmallSampleGeneralImageRenewalAsset", "+200d", {"universal": "2/2", "own": "2/2"}),
            ("TimbreRenewalAsset", "+5d", {"universal": "0/3", "own": "0/3"}),
            ("RealMan3DImageRenewalAsset", "+60d", {"universal": "1/1", "own": "1/1"}),
            ("SmallSamplePhoto2DInteractConcurrency", "+36h", {"universal": "x1", "own": "x1"}),
        ],
        "timbres": [("hz_ava_en", "+60d"), ("hz_haruka_ja", "never"), ("hz_zeroshot_ceo", "+25d")],
        "anchors": [
            ("hz_mia", "half_realistic_3d"),
            ("hz_bolt", "cartoon_3d"),
            ("hz_leo", "small_sample_general_2d"),
        ],
        "images": [
            ("f1e2d3c4b5a697887766554433221100", "hz_mia", "+60d"),
            ("1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d", "hz_bolt", "+12d"),
            ("abcdefabcdefabcdefabcdefabcdef01", "hz_leo", "+25d"),
        ],
        "small_sample_images": [("abcdefabcdefabcdefabcdefabcdef01", "-340d", "+25d")],
        "actions": {"f1e2d3c4b5a697887766554433221100": 7, "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d": 3},
    },
    "empty-trial": {
        "appkey": "ak-empty-trial-demo-0004",
        "gateway": "gw.tvs.qq.com",
        "services": [],
        "timbres": [],
        "anchors": [],
        "images": [],
        "small_sample_images": [],
        "actions": {},
    },
}


def test_the_demo_holds_the_same_accounts_and_assets_as_before() -> None:
    assert _summary(NOW) == DEMO


def test_the_demo_counts_per_kind() -> None:
    kinds = ("services", "timbres", "anchors", "images", "small_sample_images")
    counts = {
        account.name: [len(getattr(account, kind)) for kind in kinds]
        + [sum(len(actions) for actions in account.actions.values())]
        for account in default_dataset(NOW).accounts
    }
    assert counts == {
        "xinghe-live": [15, 5, 5, 6, 2, 12],
        "lanjing-studio": [11, 3, 5, 6, 3, 18],
        "horizon-sg": [12, 3, 3, 3, 1, 10],
        "empty-trial": [0, 0, 0, 0, 0, 0],
    }


def test_the_demo_dates_follow_now() -> None:
    """Relative dates keep their distance to any "now"; the vendor's absolute ones stay put."""
    assert _summary(LATER) == _summary(NOW)
    first = default_dataset(NOW).account("xinghe-live").services[0]["ExpireDate"]
    assert first == _beijing(NOW + timedelta(days=5))


def test_the_demo_credentials_are_the_data_files() -> None:
    assert DEMO_ACCOUNTS == [
        ("xinghe-live", "ak-xinghe-live-demo-0001", "at-xinghe-live-demo-secret-0001"),
        ("lanjing-studio", "ak-lanjing-studio-demo-0002", "at-lanjing-studio-demo-secret-0002"),
        ("horizon-sg", "ak-horizon-sg-demo-0003", "at-horizon-sg-demo-secret-0003"),
        ("empty-trial", "ak-empty-trial-demo-0004", "at-empty-trial-demo-secret-0004"),
    ]
    assert [(a.name, a.appkey, a.access_token) for a in default_dataset(NOW).accounts] == (
        DEMO_ACCOUNTS
    )


def test_each_demo_dataset_is_a_fresh_copy() -> None:
    first = default_dataset(NOW).account("xinghe-live")
    first.set_service_figures("BroadcastHour", RemainMilliseconds=0)
    first.remove("timbres", TimbreKey="female_1")
    assert _summary(NOW) == DEMO


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.yaml", "accounts:\n  - name: a\n    appkey: [unclosed\n"),
        ("bad.yaml", "accounts: [: bad"),
        ("bad.json", '{"accounts": ['),
    ],
)
def test_a_file_that_does_not_parse_is_one_line_with_the_place(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, NOW)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"{path}: not valid {'JSON' if name.endswith('json') else 'YAML'} at line "
    )


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).parents[2] / "docs" / "simulator.md"
    example = docs.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "docs-example.yaml"
    path.write_text(example, encoding="utf-8")
    account = load_dataset(path, NOW).account("acme-live")
    assert account.services[0]["ExpireDate"] == _beijing(NOW + timedelta(days=7))
    assert list(account.actions) == ["0123456789abcdef0123456789abcdef"]


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
