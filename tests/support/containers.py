"""Constants shared by the container fixtures and tests: how the charts run the images."""

from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "tools" / "build_images.sh"
CONTAINER_USER = "10001:10001"
# What the charts' securityContext asks for, as `docker run` flags.
RUN_FLAGS = (
    "--rm",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--user",
    CONTAINER_USER,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
# A cold build debootstraps a base image and compiles LightFM.
BUILD_TIMEOUT = 1800
BUILD_NUMBER = "20261127.7"
MODEL_NAME = "recommender"
