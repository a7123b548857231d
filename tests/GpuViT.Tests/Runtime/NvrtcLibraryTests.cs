using GpuViT.Kernels.Cuda;

namespace GpuViT.Tests.Runtime;

/// <summary>Which NVRTC libraries are tried, in which order: names only, whatever is installed here.</summary>
public sealed class NvrtcLibraryTests
{
    [Fact]
    public void The_sonames_run_newest_first_from_CUDA_13_and_end_with_the_unversioned_link()
    {
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"], NvrtcNative.Sonames);
    }

    [Fact]
    public void Each_CUDA_directory_adds_its_libnvrtc_files_newest_version_first_after_the_sonames()
    {
        var listings = new Dictionary<string, string[]>
        {
            ["/opt/cuda/lib64"] =
            [
                "/opt/cuda/lib64/libnvrtc.so", "/opt/cuda/lib64/libnvrtc.so.12", "/opt/cuda/lib64/libnvrtc.so.13.0.48",
                "/opt/cuda/lib64/libnvrtc-builtins.so.13.0", "/opt/cuda/lib64/libnvrtc.so.13", "/opt/cuda/lib64/libnvrtc.so.12.4.127",
                "/opt/cuda/lib64/libnvrtc.so.13.bak", "/opt/cuda/lib64/libnvrtc.so.14",
            ],
            ["/empty"] = [],
        };

        IEnumerable<string> candidates = NvrtcNative.Candidates(
            ["/opt/cuda/lib64", "/empty", "/opt/cuda/lib64"], directory => listings[directory]);

        Assert.Equal(
            [
                .. NvrtcNative.Sonames,
                "/opt/cuda/lib64/libnvrtc.so.14", "/opt/cuda/lib64/libnvrtc.so.13.0.48", "/opt/cuda/lib64/libnvrtc.so.13",
                "/opt/cuda/lib64/libnvrtc.so.12.4.127", "/opt/cuda/lib64/libnvrtc.so.12", "/opt/cuda/lib64/libnvrtc.so",
            ],
            candidates);
    }

    [Fact]
    public void No_directory_is_listed_while_a_soname_is_left_to_try()
    {
        IEnumerable<string> candidates = NvrtcNative.Candidates(
            ["/opt/cuda/lib64"], directory => throw new InvalidOperationException($"{directory} listed before the sonames were tried"));

        Assert.Equal(NvrtcNative.Sonames, candidates.Take(NvrtcNative.Sonames.Count));
    }

    [Theory]
    [InlineData("libnvrtc.so", "")]
    [InlineData("libnvrtc.so.13", "13")]
    [InlineData("libnvrtc.so.11.2", "11.2")]
    [InlineData("libnvrtc.so.13.0.48", "13.0.48")]
    [InlineData("libnvrtc-builtins.so.13", null)]
    [InlineData("libnvrtc.so.13.bak", null)]
    [InlineData("libnvrtc.so.", null)]
    [InlineData("libnvrtc.sox", null)]
    public void Only_libnvrtc_so_and_its_numeric_versions_count(string fileName, string? version)
    {
        int[]? parsed = NvrtcNative.SonameVersion(fileName);

        Assert.Equal(version, parsed is null ? null : string.Join('.', parsed));
    }

    [Fact]
    public void The_usual_CUDA_directories_are_searched()
    {
        string[] directories = NvrtcNative.CudaDirectories().ToArray();

        Assert.Contains("/usr/local/cuda/lib64", directories);
        Assert.Contains(directories, d => d.StartsWith("/usr/local/cuda/targets/", StringComparison.Ordinal) && d.EndsWith("/lib", StringComparison.Ordinal));
    }

    [Fact]
    public void The_loaded_library_is_named_with_its_version()
    {
        RuntimeRequirement.Nvrtc();

        Assert.NotNull(Nvrtc.Library);
        Assert.Equal($"NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor} ({Nvrtc.Library})", Nvrtc.Description);
        Assert.NotNull(NvrtcNative.SonameVersion(Path.GetFileName(Nvrtc.Library)));
    }
}
