"""Write the placeholder image sets the classic-network specs read (alexnet, vgg16, lenet5).

Each file holds 8 blank (all-zero) images of the network's input shape, labels 0 and 1 (every split sees both) and
the class names, in the HDF5 layout `data.source: {type: hdf5}` reads by default. They
let `nnctl spec show configs/alexnet.yaml` size every layer with nothing downloaded;
they teach nothing. Point `data.source` at real images of the same shape to train.

    python configs/data/make_placeholders.py      # from the repository root
"""

from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).parent
SETS = {  # file: (per-image shape, number of classes)
    "placeholder-227x227x3.h5": ((227, 227, 3), 1000),
    "placeholder-224x224x3.h5": ((224, 224, 3), 1000),
    "placeholder-32x32x3.h5": ((32, 32, 3), 10),
}
ROWS = 8


def write(path: Path, shape: tuple[int, ...], classes: int) -> None:
    with h5py.File(path, "w", track_order=True) as f:
        f.create_dataset("train_set_x", data=np.zeros((ROWS, *shape), dtype=np.uint8), compression="gzip",
                         chunks=(1, *shape))
        f.create_dataset("train_set_y", data=np.arange(ROWS, dtype=np.int64) % 2)  # two classes seen: every split has both
        f.create_dataset("list_classes", data=np.array([f"class {k}" for k in range(classes)], dtype=h5py.string_dtype()))


if __name__ == "__main__":
    for name, (shape, classes) in SETS.items():
        write(HERE / name, shape, classes)
        print(HERE / name)
