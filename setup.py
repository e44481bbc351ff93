from setuptools import find_packages, setup

setup(
    name="paddle_inception",
    version="0.1.0",
    description="The Inception family (GoogLeNet, BN-Inception, Inception-v3/v4, "
                "Inception-ResNet) as paddle.nn.Layer models, with training and inspection tools",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["paddle_inception", "paddle_inception.*"]),
    python_requires=">=3.9",
    install_requires=[
        "paddlepaddle>=3.0",
        "numpy",
        "pyyaml",
        "visualdl",
        "pillow",
    ],
    extras_require={
        "test": ["pytest"],
        "onnx": ["paddle2onnx", "onnxruntime"],
    },
    license="Apache-2.0",
)
