"""Bundles the built libsmallthinker.so into the Python package (pyproject.toml has the rest).

The library is taken from $SMALLTHINKER_LIBRARY, else from the CMake build tree
(build/lib/libsmallthinker.so.<major>). Without one, the package is installed without a
bundled library and uses the system's (the Debian package's) at run time. The wheel is marked
as platform-specific since it carries a native library."""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def built_library():
    given = os.environ.get("SMALLTHINKER_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise SystemExit("SMALLTHINKER_LIBRARY=%s is not a file" % given)
        return given
    found = sorted(glob.glob(os.path.join(HERE, "build", "lib", "libsmallthinker.so.[0-9]")))
    return found[0] if found else None


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        lib = built_library()
        if lib is None:
            print("smallthinker: no built libsmallthinker.so found (build/lib/ or $SMALLTHINKER_LIBRARY); "
                  "the package will use the system's")
            return
        dest = os.path.join(self.build_lib, "smallthinker", "libsmallthinker.so.0")
        print("smallthinker: bundling %s" % os.path.realpath(lib))
        shutil.copyfile(os.path.realpath(lib), dest)


class NativeDistribution(Distribution):
    def has_ext_modules(self):
        return built_library() is not None


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=NativeDistribution)
