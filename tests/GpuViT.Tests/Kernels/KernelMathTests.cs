using GpuViT.Kernels;
using Xunit;

namespace GpuViT.Tests.Kernels;

/// <summary>The managed math the emulator runs, against known values.</summary>
public sealed class KernelMathTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-0.3, -0.3286267594591112)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(3.99, 0.9999999839)]
    [InlineData(6.0, 1.0)]
    [InlineData(-10.0, -1.0)]
    public void Erf_matches_tabulated_values(double x, double expected)
    {
        Assert.Equal((float)expected, KernelMath.Erf((float)x));
    }

    [Fact]
    public void Min_and_max_ignore_NaN_like_fmin_and_fmax()
    {
        Assert.Equal(1f, KernelMath.Max(float.NaN, 1f));
        Assert.Equal(1f, KernelMath.Min(1f, float.NaN));
        Assert.True(float.IsNaN(KernelMath.Max(float.NaN, float.NaN)));
    }
}
