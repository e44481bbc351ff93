"""The configuration system: PaddleClas YAML files, -o overrides, schema errors, dump/load."""

import copy
import glob
import os

import pytest
import yaml
from conftest import FAMILY, ROOT

from paddle_inception.config import (
    ConfigError,
    apply_overrides,
    dump_config,
    dumps_config,
    load_config,
    parse_number,
    parse_override,
    read_yaml,
    validate_config,
)

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "paddleclas")
RECIPES = sorted(glob.glob(os.path.join(ROOT, "configs", "imagenet", "*.yaml")))
REGISTRY_NAMES = set(FAMILY)
V3 = os.path.join(FIXTURES, "InceptionV3.yaml")


def _fixture(name):
    return os.path.join(FIXTURES, name)


def _write(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _raw(path=V3):
    with open(path) as f:
        return yaml.safe_load(f)


def _errors(excinfo):
    return "\n".join(excinfo.value.errors)


# ----------------------------------------------------------------------------- real files
def test_paddleclas_googlenet_loads():
    cfg = load_config(_fixture("GoogLeNet.yaml"))
    assert cfg["Arch"] == {"name": "GoogLeNet", "class_num": 1000}
    assert cfg["Loss"]["Train"] == [{"GoogLeNetLoss": {"weight": 1.0}}]
    assert cfg["Loss"]["Eval"] == [{"GoogLeNetLoss": {"weight": 1.0}}]
    assert cfg["Metric"]["Train"] == [{"GoogLeNetTopkAcc": {"topk": [1, 5]}}]
    assert cfg["Optimizer"]["lr"]["warmup_epoch"] == 5
    norm = cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][3]["NormalizeImage"]
    assert norm["scale"] == "1.0/255.0"  # kept as written ...
    assert parse_number(norm["scale"]) == pytest.approx(1 / 255)  # ... and parseable
    assert cfg["Infer"]["transforms"][-1] == {"ToCHWImage": None}


def test_paddleclas_inception_v3_loads_with_empty_train_metric_and_mixup():
    cfg = load_config(V3)
    assert cfg["Metric"]["Train"] is None
    assert cfg["Metric"]["Eval"] == [{"TopkAcc": {"topk": [1, 5]}}]
    train = cfg["DataLoader"]["Train"]
    assert train["dataset"]["batch_transform_ops"] == [{"MixupOperator": {"alpha": 0.2}}]
    assert cfg["Loss"]["Train"] == [{"CELoss": {"weight": 1.0, "epsilon": 0.1}}]
    assert cfg["Global"]["image_shape"] == [3, 299, 299]


def test_paddleclas_inception_v4_global_class_num_moves_to_arch():
    raw = _raw(_fixture("InceptionV4.yaml"))
    assert "class_num" not in raw["Arch"] and raw["Global"]["class_num"] == 1000
    cfg = load_config(_fixture("InceptionV4.yaml"))
    assert cfg["Arch"] == {"name": "InceptionV4", "class_num": 1000}


def test_defaults_are_filled():
    cfg = load_config(V3)
    g = cfg["Global"]
    assert g["seed"] is None and g["to_static"] is False and g["use_dali"] is False
    assert g["eval_mode"] == "classification"
    assert cfg["Optimizer"]["lr"]["warmup_epoch"] == 0
    assert cfg["Optimizer"]["lr"]["warmup_start_lr"] == 0.0
    assert "AMP" not in cfg  # AMP is only filled when present
    minimal = _raw()
    del minimal["DataLoader"]["Train"]["loader"]
    del minimal["DataLoader"]["Train"]["sampler"]["shuffle"]
    del minimal["DataLoader"]["Eval"]["sampler"]["shuffle"]
    for key in ("output_dir", "device", "save_interval", "print_batch_step"):
        del minimal["Global"][key]
    del minimal["Arch"]["class_num"]
    minimal["AMP"] = None
    cfg = validate_config(minimal)
    assert cfg["Global"]["device"] == "cpu" and cfg["Global"]["output_dir"] == "./output/"
    assert cfg["Arch"]["class_num"] == 1000
    assert cfg["DataLoader"]["Train"]["loader"] == {"num_workers": 4, "use_shared_memory": True}
    assert cfg["DataLoader"]["Train"]["sampler"]["shuffle"] is True
    assert cfg["DataLoader"]["Eval"]["sampler"]["shuffle"] is False
    assert cfg["AMP"] == {
        "use_amp": True,
        "use_fp16_test": False,
        "scale_loss": 1.0,
        "use_dynamic_loss_scaling": False,
        "use_promote": False,
        "level": "O1",
    }


def test_newer_paddleclas_keys_validate(tmp_path):
    raw = _raw()
    raw["Global"].update(
        to_static=False,
        use_dali=False,
        seed=42,
        eval_mode="classification",
        image_channel=3,
        start_eval_epoch=0,
    )
    raw["AMP"] = {
        "use_amp": True,
        "use_fp16_test": False,
        "scale_loss": 128.0,
        "use_dynamic_loss_scaling": True,
        "use_promote": False,
        "level": "O2",
    }
    raw["EMA"] = {"decay": 0.9999}
    raw["Optimizer"]["multi_precision"] = True
    cfg = load_config(_write(tmp_path, raw))
    assert cfg["AMP"]["level"] == "O2" and cfg["Global"]["seed"] == 42


@pytest.mark.parametrize("path", RECIPES, ids=os.path.basename)
def test_recipe_loads(path):
    with open(path) as f:
        assert f.readline().startswith("#"), "each recipe starts with a header comment"
    cfg = load_config(path, ["Global.device=cpu"])
    assert cfg["Arch"]["name"] in REGISTRY_NAMES
    assert cfg["Arch"]["class_num"] == 1000
    size = cfg["Global"]["image_shape"][-1]
    train, evl = cfg["DataLoader"]["Train"], cfg["DataLoader"]["Eval"]
    for split in (train, evl):
        assert split["dataset"]["image_root"] == "./dataset/ILSVRC2012/"
        assert split["dataset"]["cls_label_path"].startswith("./dataset/ILSVRC2012/")
    names = [next(iter(op)) for op in train["dataset"]["transform_ops"]]
    assert names == ["DecodeImage", "RandCropImage", "RandFlipImage", "NormalizeImage"]
    assert train["dataset"]["transform_ops"][1]["RandCropImage"]["size"] == size
    assert evl["dataset"]["transform_ops"][2]["CropImage"]["size"] == size


def test_recipes_cover_the_family():
    names = {os.path.basename(p)[:-5] for p in RECIPES}
    assert {
        "googlenet",
        "bninception",
        "inception_v3",
        "inception_v4",
        "inception_resnet_v1",
        "inception_resnet_v2",
    } <= names


def test_googlenet_recipe_hyperparameters():
    cfg = load_config(os.path.join(ROOT, "configs", "imagenet", "googlenet.yaml"))
    ref = load_config(_fixture("GoogLeNet.yaml"))
    assert cfg["Arch"]["name"] == "googlenet"
    assert cfg["Loss"]["Train"] == [{"GoogLeNetLoss": {"weight": 1.0}}]
    assert cfg["Optimizer"] == ref["Optimizer"]
    assert cfg["Optimizer"]["momentum"] == 0.9
    assert cfg["Optimizer"]["lr"]["name"] == "Cosine"
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 0.01
    assert cfg["Optimizer"]["regularizer"] == {"name": "L2", "coeff": 1e-4}
    assert cfg["Global"]["epochs"] == 200 and cfg["Global"]["image_shape"] == [3, 224, 224]
    assert cfg["DataLoader"]["Train"]["dataset"] == ref["DataLoader"]["Train"]["dataset"]


@pytest.mark.parametrize(
    "ours,theirs", [("inception_v3", "InceptionV3"), ("inception_v4", "InceptionV4")]
)
def test_inception_v3_v4_recipes_follow_paddleclas(ours, theirs):
    cfg = load_config(os.path.join(ROOT, "configs", "imagenet", f"{ours}.yaml"))
    ref = load_config(_fixture(f"{theirs}.yaml"))
    assert cfg["Arch"] == {"name": ours, "class_num": 1000}
    for section in ("Loss", "Optimizer", "Metric"):
        assert cfg[section] == ref[section], section
    for split in ("Train", "Eval"):
        assert cfg["DataLoader"][split] == ref["DataLoader"][split]
    assert cfg["Global"]["epochs"] == ref["Global"]["epochs"] == 200
    assert cfg["DataLoader"]["Train"]["dataset"]["batch_transform_ops"] == [
        {"MixupOperator": {"alpha": 0.2}}
    ]
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 0.045


def test_bninception_recipe_paper_values():
    cfg = load_config(os.path.join(ROOT, "configs", "imagenet", "bninception.yaml"))
    assert cfg["Arch"]["name"] == "bninception"
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 0.045  # BN-x30
    assert cfg["Optimizer"]["regularizer"]["coeff"] == pytest.approx(4e-5)  # Inception's / 5
    assert cfg["Global"]["image_shape"] == [3, 224, 224]


# ----------------------------------------------------------------------------- overrides
def test_override_nested_list_index_and_typed_values():
    cfg = load_config(
        V3,
        [
            "Global.epochs=3",
            "Global.use_visualdl=true",
            "Global.pretrained_model=null",
            "Global.image_shape=[3, 96, 96]",
            "Optimizer.lr.learning_rate=0.1",
            "DataLoader.Train.sampler.batch_size=8",
            "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=96",
            "DataLoader.Eval.dataset.transform_ops[2].CropImage.size=96",
            "DataLoader.Train.dataset.batch_transform_ops.0.MixupOperator.alpha=0.4",
            "Metric.Train=[{TopkAcc: {topk: [1, 5]}}]",
            "Global.output_dir=./out/run 1",
        ],
    )
    g = cfg["Global"]
    assert g["epochs"] == 3 and g["use_visualdl"] is True and g["pretrained_model"] is None
    assert g["image_shape"] == [3, 96, 96] and g["output_dir"] == "./out/run 1"
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 0.1
    train = cfg["DataLoader"]["Train"]
    assert train["sampler"]["batch_size"] == 8
    assert train["dataset"]["transform_ops"][1] == {"RandCropImage": {"size": 96}}
    assert cfg["DataLoader"]["Eval"]["dataset"]["transform_ops"][2] == {"CropImage": {"size": 96}}
    assert train["dataset"]["batch_transform_ops"][0]["MixupOperator"]["alpha"] == 0.4
    assert cfg["Metric"]["Train"] == [{"TopkAcc": {"topk": [1, 5]}}]


def test_override_new_keys_allowed_in_free_form_maps():
    cfg = load_config(
        V3,
        [
            "Arch.dropout=0.2",
            "Arch.aux_logits=false",
            "DataLoader.Train.dataset.transform_ops.1.RandCropImage.scale=[0.35, 1]",
            "DataLoader.Train.dataset.delimiter=' '",
            "Infer.PostProcess.savefile=out.txt",
        ],
    )
    assert cfg["Arch"]["dropout"] == 0.2 and cfg["Arch"]["aux_logits"] is False
    crop = cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][1]["RandCropImage"]
    assert crop == {"size": 299, "scale": [0.35, 1]}
    assert cfg["DataLoader"]["Train"]["dataset"]["delimiter"] == " "
    assert cfg["Infer"]["PostProcess"]["savefile"] == "out.txt"


def test_override_creates_known_section_and_replaces_whole_maps():
    cfg = load_config(
        V3,
        [
            "AMP.level=O2",
            "Optimizer.lr={name: Step, learning_rate: 0.045, step_size: 2, gamma: 0.94}",
            "Optimizer.name=RMSProp",
            "Optimizer.rho=0.9",
            "Optimizer.epsilon=1.0",
        ],
    )
    assert cfg["AMP"]["level"] == "O2" and cfg["AMP"]["use_amp"] is True
    assert cfg["Optimizer"]["lr"] == {
        "name": "Step",
        "learning_rate": 0.045,
        "step_size": 2,
        "gamma": 0.94,
        "warmup_epoch": 0,
        "warmup_start_lr": 0.0,
    }
    assert cfg["Optimizer"]["name"] == "RMSProp"


@pytest.mark.parametrize(
    "override,where,suggestion",
    [
        ("Globl.epochs=3", "Globl", "Global"),
        ("Global.epoch=3", "Global.epoch", "epochs"),
        ("Global.eval_during_training=false", "Global.eval_during_training", "eval_during_train"),
        (
            "DataLoader.Train.sampler.batchsize=8",
            "DataLoader.Train.sampler.batchsize",
            "batch_size",
        ),
        ("Optimizer.lr.learningrate=0.1", "Optimizer.lr.learningrate", "learning_rate"),
    ],
)
def test_override_unknown_key_suggests(override, where, suggestion):
    with pytest.raises(ConfigError) as exc:
        load_config(V3, [override])
    msg = str(exc.value)
    assert where in msg and f"did you mean '{suggestion}'" in msg
    assert override in msg


def test_override_errors_are_reported_together():
    with pytest.raises(ConfigError) as exc:
        load_config(
            V3,
            [
                "Global.epoch=3",
                "DataLoader.Train.sampler.batchsize=8",
                "DataLoader.Train.dataset.transform_ops.7.X.y=1",
                "DataLoader.Train.dataset.transform_ops.1.RandFlipImage.flip_code=0",
                "Loss.Train.CELoss.weight=2",
                "Global.epochs",
                "Global.epochs.x=1",
            ],
        )
    errs = exc.value.errors
    assert len(errs) == 7
    assert "out of range" in errs[2] and "'RandCropImage', not 'RandFlipImage'" in errs[3]
    assert "index it with an integer" in errs[4] and "Section.key=value" in errs[5]


def test_override_values_are_never_evaluated():
    parts, value = parse_override("Global.output_dir=__import__('os').getcwd()")
    assert parts == ["Global", "output_dir"] and value == "__import__('os').getcwd()"
    # safe_load refuses python tags: the text stays a plain string, nothing runs
    text = "!!python/object/apply:os.system ['echo hi']"
    assert parse_override(f"A.b={text}")[1] == text
    assert parse_override("A.b=[1, 5]")[1] == [1, 5]
    assert parse_override("A.b={alpha: 0.2}")[1] == {"alpha": 0.2}
    assert parse_override("A.b=")[1] is None
    assert parse_override("A[0].b=1e-4")[0] == ["A", "0", "b"]
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_override("Global.image_shape=[3, 96")


def test_apply_overrides_in_place():
    raw = _raw()
    apply_overrides(raw, ["Global.epochs=7"])
    assert raw["Global"]["epochs"] == 7
    assert validate_config(raw)["Global"]["epochs"] == 7


# ----------------------------------------------------------------------------- schema errors
def test_unknown_keys_in_file_name_full_path_and_suggestion(tmp_path):
    raw = _raw()
    raw["Optimzer"] = raw.pop("Optimizer")
    raw["Global"]["epoch"] = raw["Global"].pop("epochs")
    raw["DataLoader"]["Train"]["sampler"]["batchsize"] = 8
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, raw))
    text = _errors(exc)
    assert "Optimzer: unknown key (did you mean 'Optimizer'?)" in text
    assert "Global.epoch: unknown key (did you mean 'epochs'?)" in text
    assert "DataLoader.Train.sampler.batchsize: unknown key (did you mean 'batch_size'?)" in text
    assert "Global.epochs: required key is missing" in text
    assert "Optimizer: required key is missing" in text
    assert str(tmp_path / "cfg.yaml") in str(exc.value)


def test_wrong_types_name_path_expected_type_and_value(tmp_path):
    raw = _raw()
    raw["Global"]["epochs"] = "ten"
    raw["DataLoader"]["Train"]["sampler"]["batch_size"] = 1.5
    raw["Global"]["eval_during_train"] = "yes please"
    raw["Optimizer"]["momentum"] = [0.9]
    raw["Global"]["device"] = "cuda"
    raw["Metric"]["Eval"][0]["TopkAcc"]["topk"] = [1, "5"]
    raw["DataLoader"]["Train"]["dataset"]["transform_ops"][3]["NormalizeImage"]["scale"] = (
        "__import__('os')"
    )
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, raw))
    text = _errors(exc)
    assert "Global.epochs: expected an integer, got str 'ten'" in text
    assert "DataLoader.Train.sampler.batch_size: expected an integer, got float 1.5" in text
    assert "Global.eval_during_train: expected a boolean" in text
    assert "Optimizer.momentum: expected a number, got list [0.9]" in text
    assert "Global.device:" in text and "did you mean 'gpu'" in text
    assert "Metric.Eval[0].TopkAcc.topk[1]: expected an integer, got str '5'" in text
    assert "transform_ops[3].NormalizeImage.scale: expected a number" in text
    assert len(exc.value.errors) == 7


def test_missing_required_keys_are_named(tmp_path):
    raw = _raw()
    del raw["Arch"]["name"]
    del raw["Global"]["epochs"]
    del raw["DataLoader"]["Train"]
    del raw["Optimizer"]["name"]
    del raw["Loss"]
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, raw))
    text = _errors(exc)
    for key in ("Arch.name", "Global.epochs", "DataLoader.Train", "Optimizer.name", "Loss"):
        assert f"{key}: required key is missing" in text


def test_empty_arch_name_and_bad_choices(tmp_path):
    raw = _raw()
    raw["Arch"]["name"] = " "
    raw["Optimizer"]["name"] = "momentum"
    raw["Optimizer"]["lr"]["name"] = "cosine"
    raw["Optimizer"]["regularizer"]["name"] = "L3"
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, raw))
    text = _errors(exc)
    assert "Arch.name: must be a non-empty string" in text
    assert "Optimizer.name: expected one of" in text and "did you mean 'Momentum'" in text
    assert "Optimizer.lr.name:" in text and "did you mean 'Cosine'" in text
    assert "Optimizer.regularizer.name:" in text


def test_schedule_and_cross_section_checks(tmp_path):
    raw = _raw()
    raw["Optimizer"]["lr"] = {
        "name": "Piecewise",
        "decay_epochs": [30, 60],
        "values": [0.1, 0.01],
        "gamma": 0.1,
    }
    raw["Global"]["class_num"] = 10
    raw["Global"]["eval_during_train"] = True
    del raw["DataLoader"]["Eval"]
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, raw))
    text = _errors(exc)
    assert "Optimizer.lr.values: the Piecewise schedule needs" in text
    assert "Optimizer.lr.gamma: not used by the Piecewise schedule" in text
    assert "Global.class_num (10) and Arch.class_num (1000) disagree" in text
    assert "DataLoader.Eval: required when Global.eval_during_train is true" in text
    cfg = load_config(V3, ["Global.eval_during_train=False", "DataLoader.Eval=null"])
    assert cfg["DataLoader"]["Eval"] is None


def test_numbers_written_as_strings_are_converted(tmp_path):
    text = (
        open(V3)
        .read()
        .replace("coeff: 0.0001", "coeff: 1e-4")
        .replace("learning_rate: 0.045", "learning_rate: 0.18/4")
    )
    cfg = load_config(_write(tmp_path, text))
    assert cfg["Optimizer"]["regularizer"]["coeff"] == pytest.approx(1e-4)
    assert isinstance(cfg["Optimizer"]["regularizer"]["coeff"], float)
    assert cfg["Optimizer"]["lr"]["learning_rate"] == pytest.approx(0.045)


# ----------------------------------------------------------------------------- YAML problems
def test_malformed_yaml_reports_file_and_line(tmp_path):
    text = "Global:\n  epochs: 3\n  device: cpu\nArch:\n  name: [googlenet\n  class_num: 1\n"
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert path in msg and "invalid YAML" in msg
    assert f"{path}:6:" in msg or f"{path}:5:" in msg


def test_bad_indentation_reports_its_line(tmp_path):
    text = "Global:\n  epochs: 3\n device: cpu\n"
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"{path}:3:"):
        load_config(path)


def test_duplicate_keys_are_rejected(tmp_path):
    text = "Global:\n  epochs: 3\n  epochs: 4\n"
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"duplicate key 'epochs' \(first at line 2\)"):
        load_config(path)


@pytest.mark.parametrize("text,match", [("", "empty"), ("- a\n- b\n", "must be a mapping")])
def test_empty_or_non_mapping_file(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))

    # a script that handles bad input with `except ValueError` catches config errors too
    with pytest.raises(ValueError, match="Arch.class_num"):
        load_config(_write(tmp_path, "Arch: {name: googlenet, class_num: many}\n"))


def test_python_tags_are_refused(tmp_path):
    path = _write(tmp_path, "Global: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        read_yaml(path)


# ----------------------------------------------------------------------------- parse_number
@pytest.mark.parametrize(
    "value,expected",
    [
        (1, 1),
        (0.5, 0.5),
        ("1.0/255.0", 1 / 255),
        ("1./255.", 1 / 255),
        (" 1 / 4 ", 0.25),
        ("1e-4", 1e-4),
        ("-2.5", -2.5),
        (".5", 0.5),
        ("3", 3.0),
        ("2.5E+2/5", 50.0),
    ],
)
def test_parse_number_accepts(value, expected):
    assert parse_number(value, "x.y") == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        "__import__('os')",
        "__import__('os').system('echo hi')",
        "1/0",
        "abc",
        "2**8",
        "1/2/3",
        "1+1",
        "",
        True,
        None,
        [1],
        "nan",
        "inf",
        float("inf"),
    ],
)
def test_parse_number_rejects(value):
    with pytest.raises(ConfigError, match="NormalizeImage.scale"):
        parse_number(value, "NormalizeImage.scale")


# ----------------------------------------------------------------------------- dump / load
@pytest.mark.parametrize(
    "path", [V3, _fixture("GoogLeNet.yaml")] + RECIPES[:1], ids=os.path.basename
)
def test_dump_load_round_trip(tmp_path, path):
    cfg = load_config(path, ["Global.epochs=2", "Arch.dropout=0.1"])
    out = dump_config(cfg, str(tmp_path / "run" / "config.yaml"), header="resolved config")
    assert os.path.isfile(out)
    text = open(out).read()
    assert text.startswith("# resolved config\n")
    assert "scale: 1.0/255.0" in text and "topk: [1, 5]" in text
    assert load_config(out) == cfg
    assert yaml.safe_load(dumps_config(cfg)) == cfg
    # key order is kept: sections appear as in the file
    assert list(load_config(out)) == list(cfg)


def test_load_returns_plain_independent_dicts():
    a = load_config(V3)
    b = copy.deepcopy(a)
    a["Global"]["epochs"] = 1
    assert b["Global"]["epochs"] == 200
    assert type(a) is dict and type(a["Global"]) is dict
    assert load_config(V3)["Global"]["epochs"] == 200
