"""Convert torchvision / timm / PaddleClas / pytorch-fid checkpoints into weights for this zoo.

    python tools/convert_weights.py --from timm --arch inception_v4 model.safetensors v4.pdparams

writes `v4.pdparams` (loads into our model with `set_state_dict`, no missing or unexpected keys:
the converter checks this before writing) and `v4.json` next to it, the sidecar with the model
name, its constructor kwargs and the preprocessing the checkpoint expects. Load both with

    model, cfg = paddle_inception.models.load_converted("v4.pdparams")

or `create_model(cfg_json["arch"], pretrained="v4.pdparams", **cfg_json["model_kwargs"])`.

Supported pairs (`SUPPORTED`):

=============  =====================================  ===========================================
source         arch                                   what the converter does
=============  =====================================  ===========================================
torchvision    googlenet                              `googlenet_bn`, branch3_kernel_size=3,
                                                      maxpool4_kernel_size=2, transform_input
                                                      (default on, as the published weights),
                                                      aux heads if present
torchvision    inception_v3                           transform_input (default on), aux if present
timm           inception_v3                           names map 1:1; aux head if present (tv_in1k)
timm           inception_v4                           `features.<i>` -> TF-slim block names
timm           inception_resnet_v2                    `<block>.conv2d` -> `<block>.conv2d.conv`
paddleclas     InceptionV3                            bn_eps=1e-5, no aux head, inference dropout
                                                      scale folded into head.fc
paddleclas     InceptionV4                            bn_eps=1e-5, kernel_order="paper", concat
                                                      order folded into the next layer's weights,
                                                      dropout scale folded into head.fc
paddleclas     GoogLeNet                              refused: not expressible (see
                                                      `PADDLECLAS_GOOGLENET_WHY`)
pytorch-fid    fid_inception_v3                       `pt_inception-2015-12-05-*.pth` -> the FID
                                                      network `fid_inception_v3` (1008 classes)
=============  =====================================  ===========================================

Readers (`readers.py`) work without torch or safetensors installed, run no code from the file
and allocate no more than it can hold:

- `.pth` / `.pt` (torch's zip format, and the legacy pre-1.6 format) and `.pdparams` are read
  with `paddle_inception.weights`' pure-Python restricted unpickler (bounded reads, opcode budget,
  validated numpy stand-ins), extended with torch's tensor rebuild functions and storage classes
  (mapped to numpy), `argparse.Namespace` and sets; every other global is refused
  (`UnsafeCheckpointError`), so a checkpoint cannot run code;
- `.safetensors` by a small own reader (8-byte header length, JSON header, raw buffers) as strict
  as the `safetensors` package (ranges must tile the data exactly, no duplicate names);
- every tensor view must stay inside its storage, every record hold exactly what it declares, and
  everything decompressed or built stays within 4x the file size + 16 MiB
  (`readers.MEMORY_FACTOR`, `readers.MEMORY_SLACK`); any malformed or hostile input is a one-line
  `ConversionError` naming the file and what is wrong.
"""

from ..models.pretrained import SIDECAR_FORMAT, load_converted, sidecar_path
from .api import ConversionResult, convert_checkpoint, convert_state_dict
from .mappings import PADDLECLAS_GOOGLENET_WHY, SUPPORTED
from .readers import (
    ConversionError,
    UnsafeCheckpointError,
    extract_state_dict,
    read_checkpoint,
    read_pickle_file,
    read_safetensors,
    read_torch_checkpoint,
)

__all__ = [
    "ConversionError",
    "UnsafeCheckpointError",
    "SUPPORTED",
    "PADDLECLAS_GOOGLENET_WHY",
    "read_checkpoint",
    "read_torch_checkpoint",
    "read_safetensors",
    "read_pickle_file",
    "extract_state_dict",
    "convert_state_dict",
    "convert_checkpoint",
    "ConversionResult",
    "load_converted",
    "sidecar_path",
    "SIDECAR_FORMAT",
]
