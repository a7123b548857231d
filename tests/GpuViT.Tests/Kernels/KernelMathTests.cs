using GpuViT.Kernels;
using Xunit;

namespace GpuViT.Tests.Kernels;

/// <summary>The managed math the emulator runs, against known values.</summary>
public sealed class KernelMathTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.125, 0.1403162048013338)]
    [InlineData(0.25, 0.2763263901682369)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-0.75, -0.7111556336535151)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(6.0, 1.0)]
    [InlineData(-10.0, -1.0)]
    public void Erf_matches_tabulated_values(double x, double expected) // x exact in float
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
