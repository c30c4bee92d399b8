// The output-file policy (formats/output_file.h) on a scratch directory: new and existing
// regular files, symbolic links (the link stays a link), directories, private device nodes made
// with mknod (root only; skipped otherwise), FIFOs, inherited descriptors, the output-is-the-
// input check through every spelling, write failures (file size limit, a full device) and the
// signal handler that removes the temporary file before the process dies.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "formats/output_file.h"

namespace st {
namespace {

namespace fs = std::filesystem;

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "output_file_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Every name in the scratch directory (temporary files would show here).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // A private device node; false (and the test skips) where mknod is not allowed.
  bool make_node(const std::string& p, mode_t kind, unsigned major_no, unsigned minor_no) const {
    return ::mknod(p.c_str(), kind | 0666, makedev(major_no, minor_no)) == 0;
  }

  fs::path dir_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const std::string& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const OutputFileError& e) {
    return e.what();
  }
  return "(no error)";
}

mode_t kind_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & S_IFMT;
}

TEST_F(OutputFileTest, NewFileAppearsOnlyOnCommit) {
  const std::string p = path("out.bin");
  {
    OutputFile f(p);
    f.write("hello");
    EXPECT_FALSE(f.in_place());
    EXPECT_EQ(fs::path(f.temp_path()).parent_path(), dir_);
    EXPECT_FALSE(fs::exists(p));  // only the temporary file exists while writing
    EXPECT_EQ(live_temp_files(), 1u);
    f.commit();
    EXPECT_EQ(f.written(), 5u);
  }
  EXPECT_EQ(slurp(p), "hello");
  EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
  EXPECT_EQ(live_temp_files(), 0u);
}

TEST_F(OutputFileTest, ReplacesAnExistingFileKeepingItsMode) {
  const std::string p = path("out.bin");
  put(p, "old");
  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  write_output_file(p, "new contents");
  EXPECT_EQ(slurp(p), "new contents");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(OutputFileTest, AnOutputNeverCommittedLeavesThePreviousFile) {
  const std::string p = path("out.bin");
  put(p, "old");
  {
    OutputFile f(p);
    f.write("partial");
  }  // an exception unwinding through here is the same path
  EXPECT_EQ(slurp(p), "old");
  EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
  EXPECT_EQ(live_temp_files(), 0u);
}

// The link stays a link; the file it points to (in another directory, through a relative link)
// gets the contents, and the temporary file is made beside it.
TEST_F(OutputFileTest, SymbolicLinksAreFollowedAndKept) {
  fs::create_directories(dir_ / "models");
  fs::create_directories(dir_ / "links");
  put(path("models/real.bin"), "old");
  fs::create_symlink("../models/real.bin", dir_ / "links/current.bin");
  fs::create_symlink("links/current.bin", dir_ / "chain.bin");  // a link to a link
  {
    OutputFile f(path("chain.bin"));
    EXPECT_EQ(fs::path(f.temp_path()).parent_path(), dir_ / "links/../models");
    f.write("new");
    f.commit();
  }
  EXPECT_EQ(kind_of(path("chain.bin")), S_IFLNK);
  EXPECT_EQ(kind_of(path("links/current.bin")), S_IFLNK);
  EXPECT_EQ(slurp(path("models/real.bin")), "new");
  EXPECT_EQ(fs::read_symlink(dir_ / "links/current.bin"), "../models/real.bin");

  fs::create_symlink("models/not-yet.bin", dir_ / "dangling.bin");  // a dangling link creates its target
  write_output_file(path("dangling.bin"), "x");
  EXPECT_EQ(kind_of(path("dangling.bin")), S_IFLNK);
  EXPECT_EQ(slurp(path("models/not-yet.bin")), "x");
}

TEST_F(OutputFileTest, DirectoriesAndMissingDirectoriesAreRefused) {
  fs::create_directories(dir_ / "sub");
  fs::create_symlink("sub", dir_ / "to-sub");
  EXPECT_NE(error_of([&] { OutputFile f(path("sub")); }).find("is a directory"), std::string::npos);
  EXPECT_NE(error_of([&] { check_output_path(path("to-sub")); }).find("to-sub: is a symbolic link to '"),
            std::string::npos);
  const std::string missing = path("no/such/dir/out.bin");
  EXPECT_NE(error_of([&] { OutputFile f(missing); }).find(missing + ": cannot create the output: the directory"),
            std::string::npos);
  EXPECT_NE(error_of([&] { OutputFile f(""); }).find("no output file name"), std::string::npos);
  EXPECT_EQ(kind_of(path("sub")), S_IFDIR);
}

// /dev/null and /dev/full stand-ins made with mknod: written in place, never replaced by a file.
TEST_F(OutputFileTest, CharacterDevicesAreWrittenInPlace) {
  const std::string null_dev = path("null"), full_dev = path("full");
  if (!make_node(null_dev, S_IFCHR, 1, 3) || !make_node(full_dev, S_IFCHR, 1, 7))
    GTEST_SKIP() << "mknod is not allowed here (needs root)";
  fs::create_symlink("full", dir_ / "to-full");
  {
    OutputFile f(null_dev);
    EXPECT_TRUE(f.in_place());
    f.write(std::string(1 << 20, 'x'));
    f.commit();
  }
  const std::string err = error_of([&] { write_output_file(path("to-full"), std::string(1 << 16, 'x')); });
  EXPECT_NE(err.find("write failed"), std::string::npos) << err;
  EXPECT_NE(err.find("disk is full"), std::string::npos) << err;
  EXPECT_EQ(kind_of(null_dev), S_IFCHR);
  EXPECT_EQ(kind_of(full_dev), S_IFCHR);
  EXPECT_EQ(kind_of(path("to-full")), S_IFLNK);
  EXPECT_EQ(names(), (std::vector<std::string>{"full", "null", "to-full"}));
}

TEST_F(OutputFileTest, BlockDevicesAndSocketsAreRefused) {
  const std::string disk = path("disk");
  if (!make_node(disk, S_IFBLK, 7, 200)) GTEST_SKIP() << "mknod is not allowed here (needs root)";
  EXPECT_NE(error_of([&] { OutputFile f(disk); }).find("block device"), std::string::npos);
  EXPECT_EQ(kind_of(disk), S_IFBLK);
  const std::string sock = path("sock");
  ASSERT_TRUE(make_node(sock, S_IFSOCK, 0, 0));
  EXPECT_NE(error_of([&] { OutputFile f(sock); }).find("socket"), std::string::npos);
}

TEST_F(OutputFileTest, FifosAreWrittenInPlace) {
  const std::string fifo = path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  write_output_file(fifo, "through the pipe");
  reader.join();
  EXPECT_EQ(received, "through the pipe");
  EXPECT_EQ(kind_of(fifo), S_IFIFO);
}

// /dev/fd/N and /proc/self/fd/N write to the open descriptor (here a pipe), which stays open.
TEST_F(OutputFileTest, DescriptorPathsWriteToTheDescriptor) {
  for (const std::string prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    write_output_file(prefix + std::to_string(fds[1]), "via " + prefix);
    EXPECT_NE(::fcntl(fds[1], F_GETFD), -1) << "the caller's descriptor stays open";
    ::close(fds[1]);
    char buf[64] = {};
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    ::close(fds[0]);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), "via " + prefix);
  }
  EXPECT_NE(error_of([] { OutputFile f("/dev/fd/987654"); }).find("is not open"), std::string::npos);
}

// Every spelling of the input is refused: another path string, a symbolic link, a hard link.
TEST_F(OutputFileTest, TheOutputMayNotBeAnInput) {
  fs::create_directories(dir_ / "sub");
  const std::string in = path("model.gguf");
  put(in, "the input");
  fs::create_symlink("model.gguf", dir_ / "link.gguf");
  fs::create_hard_link(in, dir_ / "hard.gguf");
  const std::vector<std::string> inputs = {path("other-input-that-does-not-exist"), in};
  const std::vector<std::string> spellings = {path("sub/../model.gguf"), path("./model.gguf"), path("link.gguf"),
                                              path("hard.gguf")};
  for (const std::string& out : spellings) {
    const std::string err = error_of([&] { OutputFile f(out, inputs); });
    EXPECT_NE(err.find(out + ": is the same file as the input '" + in + "'"), std::string::npos) << err;
    EXPECT_NE(error_of([&] { check_output_path(out, inputs); }).find("same file"), std::string::npos);
  }
  EXPECT_EQ(slurp(in), "the input");
  write_output_file(path("model-q4.gguf"), "fine", inputs);  // a different file is fine
  EXPECT_EQ(names(), (std::vector<std::string>{"hard.gguf", "link.gguf", "model-q4.gguf", "model.gguf", "sub"}));
}

// Past the file size limit the write fails with EFBIG (SIGXFSZ is ignored once an output file
// exists), the message says so, and the previous file and the directory are as they were.
TEST_F(OutputFileTest, AFailedWriteKeepsThePreviousFile) {
  const std::string p = path("out.bin");
  put(p, "previous");
  rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  std::string err;
  {
    OutputFile f(p);  // installs the handlers before the limit matters
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    err = error_of([&] { f.write(std::string(10000, 'x')); });
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  }
  EXPECT_NE(err.find(p + ": write failed: File too large (over the file size limit"), std::string::npos) << err;
  EXPECT_NE(err.find("'" + p + "' was left as it was"), std::string::npos) << err;
  EXPECT_EQ(slurp(p), "previous");
  EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
}

// A file the user may not write is not replaced, although the directory would allow the rename
// (cp would refuse too). Runs as "nobody" in a forked child; root may write anything.
TEST_F(OutputFileTest, AFileTheUserMayNotWriteIsNotReplaced) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another user";
  GTEST_FLAG_SET(death_test_style, "fast");
  const std::string p = path("theirs.bin");
  put(p, "not yours");
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  EXPECT_EXIT(
      {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::exit(2);
        const std::string err = error_of([&] { write_output_file(p, "mine"); });
        std::exit(err.find(p + ": is a file you may not write (Permission denied)") != std::string::npos ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EQ(slurp(p), "not yours");
  EXPECT_EQ(names(), std::vector<std::string>{"theirs.bin"});
}

// A long file name still gets a temporary file in the same directory.
TEST_F(OutputFileTest, LongNamesGetAShortTemporaryName) {
  const std::string p = path(std::string(250, 'n'));
  OutputFile f(p);
  EXPECT_EQ(fs::path(f.temp_path()).filename().string().rfind(".smallthinker.tmp.", 0), 0u) << f.temp_path();
  f.write("x");
  f.commit();
  EXPECT_EQ(slurp(p), "x");
}

// A signal with its default action ends the process as before (killed by that signal), but the
// temporary file is gone and the previous output is untouched. Runs in a forked child.
TEST_F(OutputFileTest, SignalsRemoveTheTemporaryFile) {
  GTEST_FLAG_SET(death_test_style, "fast");  // the child must see this test's directory
  const std::string p = path("out.bin");
  put(p, "previous");
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    EXPECT_EXIT(
        {
          OutputFile f(p);
          f.write(std::string(1 << 20, 'x'));
          std::raise(sig);
        },
        ::testing::KilledBySignal(sig), "");
    EXPECT_EQ(names(), std::vector<std::string>{"out.bin"}) << "signal " << sig;
    EXPECT_EQ(slurp(p), "previous");
  }
}

// A program's own handler is kept (the chat's Ctrl-C): the signal does not end the process.
TEST_F(OutputFileTest, AProgramsOwnSignalHandlerIsKept) {
  GTEST_FLAG_SET(death_test_style, "fast");  // the child must see this test's directory
  EXPECT_EXIT(
      {
        static volatile std::sig_atomic_t seen = 0;
        std::signal(SIGINT, [](int) { seen = 1; });
        OutputFile f(path("out.bin"));
        std::raise(SIGINT);
        f.write("done");
        f.commit();
        std::exit(seen == 1 && slurp(path("out.bin")) == "done" ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace st
