"""Package-level contracts: torch-free, cheap import, public API present."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pastegen

BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
    sys.meta_path.insert(0, Block())
    """
)


def test_pastegen_works_without_torch():
    code = BLOCK_TORCH + textwrap.dedent(
        """
        import pkgutil, importlib, pastegen
        for m in pkgutil.walk_packages(pastegen.__path__, "pastegen."):
            importlib.import_module(m.name)
        gen = pastegen.TupleGenerator(pastegen.sample_image_paths()[:2], pastegen.preset("sample", height=32, width=32), seed=0)
        t = gen[0]
        assert t.I.shape == (32, 32, 3)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_import_is_lazy():
    code = "import sys, pastegen; print(sorted(m for m in ('h5py', 'cv2', 'skimage', 'numba', 'joblib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_api():
    for name in pastegen.__all__:
        assert getattr(pastegen, name) is not None, name
    assert pastegen.FORMAT_VERSION >= 1
    assert issubclass(pastegen.SpecError, pastegen.PastegenError)
