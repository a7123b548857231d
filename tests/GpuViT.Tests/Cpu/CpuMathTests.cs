using System.Runtime.Intrinsics;
using GpuViT.Kernels.Cpu;

namespace GpuViT.Tests.Cpu;

/// <summary>
/// CpuMath's exp, erf, erfc and GELUs against double references, in ulps; and every Vector256 and
/// Vector512 lane equal to the scalar, bit for bit.
/// </summary>
public sealed class CpuMathTests
{
    /// <summary>100 001 floats spread evenly over [from, to].</summary>
    private static IEnumerable<float> Grid(float from, float to)
    {
        const int Count = 100_000;
        for (int i = 0; i <= Count; i++)
        {
            yield return from + (to - from) * i / Count;
        }
    }

    private static double Ulps(float actual, double expected)
    {
        float rounded = (float)expected;
        double ulp = Math.Max(MathF.BitIncrement(MathF.Abs(rounded)) - MathF.Abs(rounded), float.Epsilon);
        return Math.Abs(actual - expected) / ulp;
    }

    /// <summary>The worst ulps over <see cref="Grid"/> of the scalar function and of one Vector256 lane (a different lane per function).</summary>
    private static (double Scalar, double Vector) WorstUlps(
        float from, float to, Func<double, double> reference, Func<float, float> scalar, Func<Vector256<float>, Vector256<float>> vector, int lane)
    {
        double worst = 0, worstVector = 0;
        foreach (float x in Grid(from, to))
        {
            double expected = reference(x);
            worst = Math.Max(worst, Ulps(scalar(x), expected));
            worstVector = Math.Max(worstVector, Ulps(vector(Vector256.Create(x))[lane], expected));
        }

        return (worst, worstVector);
    }

    [Fact]
    public void Exp_is_within_1_ulp_down_to_denormals()
    {
        double worst = 0;
        foreach (float x in Grid(-103f, 88.7f))
        {
            worst = Math.Max(worst, Ulps(CpuMath.Exp(x), Math.Exp(x)));
        }

        Assert.True(worst <= 1, $"exp: {worst:F2} ulp");
        Assert.Equal(float.PositiveInfinity, CpuMath.Exp(88.73f));
        Assert.Equal(float.PositiveInfinity, CpuMath.Exp(float.PositiveInfinity));
        Assert.Equal(0f, CpuMath.Exp(float.NegativeInfinity));
        Assert.Equal(0f, CpuMath.Exp(-104f));
        Assert.Equal(1f, CpuMath.Exp(0f));
        Assert.True(float.IsNaN(CpuMath.Exp(float.NaN)));
    }

    [Fact]
    public void Vector_lanes_equal_the_scalar_bit_for_bit()
    {
        var functions = new (string Name, Func<float, float> Scalar, Func<Vector256<float>, Vector256<float>> V256, Func<Vector512<float>, Vector512<float>> V512)[]
        {
            ("Exp", CpuMath.Exp, CpuMath.Exp, CpuMath.Exp),
            ("Erf", CpuMath.Erf, CpuMath.Erf, CpuMath.Erf),
            ("Erfc", CpuMath.Erfc, CpuMath.Erfc, CpuMath.Erfc),
            ("Gelu", CpuMath.Gelu, CpuMath.Gelu, CpuMath.Gelu),
            ("GeluTanh", CpuMath.GeluTanh, CpuMath.GeluTanh, CpuMath.GeluTanh),
        };
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1e-30f, -1e-30f, 88.8f, -104.5f];
        var inputs = new float[16];
        foreach (var (name, scalar, v256, v512) in functions)
        {
            foreach (float start in Grid(-110f, 90f).Where((_, i) => i % 16 == 0).Concat(specials))
            {
                for (int lane = 0; lane < 16; lane++)
                {
                    inputs[lane] = start * (1 + lane * 1e-3f);
                }

                Vector256<float> low = v256(Vector256.Create<float>(inputs));
                Vector512<float> wide = v512(Vector512.Create<float>(inputs));
                for (int lane = 0; lane < 16; lane++)
                {
                    int expected = BitConverter.SingleToInt32Bits(scalar(inputs[lane]));
                    Assert.True(expected == BitConverter.SingleToInt32Bits(wide[lane]), $"{name}({inputs[lane]}): Vector512 lane {wide[lane]}, scalar {scalar(inputs[lane])}");
                    if (lane < 8)
                    {
                        Assert.True(expected == BitConverter.SingleToInt32Bits(low[lane]), $"{name}({inputs[lane]}): Vector256 lane {low[lane]}, scalar {scalar(inputs[lane])}");
                    }
                }
            }
        }
    }

    [Fact]
    public void Erf_is_within_3_ulp_scalar_and_vector()
    {
        (double worst, double worstVector) = WorstUlps(-6f, 6f, MathReference.Erf, CpuMath.Erf, CpuMath.Erf, lane: 3);

        Assert.True(worst <= 3 && worstVector <= 3, $"erf: {worst:F2} ulp scalar, {worstVector:F2} vector");
        // Agrees with the kernels' erf (double rounded to float) as tabulated there.
        Assert.Equal(KernelMath.Erf(0.5f), CpuMath.Erf(0.5f), 6);
    }

    [Fact]
    public void Erfc_keeps_relative_accuracy_in_the_tail()
    {
        (double worst, double worstVector) = WorstUlps(-4f, 9.5f, MathReference.Erfc, CpuMath.Erfc, CpuMath.Erfc, lane: 5);

        Assert.True(worst <= 8 && worstVector <= 8, $"erfc: {worst:F2} ulp scalar, {worstVector:F2} vector");
    }

    [Fact]
    public void Gelu_is_within_10_ulp_down_the_negative_tail()
    {
        (double worst, double worstVector) = WorstUlps(-12f, 12f, MathReference.Gelu, CpuMath.Gelu, CpuMath.Gelu, lane: 0);

        Assert.True(worst <= 10 && worstVector <= 10, $"GELU: {worst:F2} ulp scalar, {worstVector:F2} vector");
    }

    [Fact]
    public void GeluTanh_matches_the_formula()
    {
        double worst = 0;
        foreach (float x in Grid(-6f, 10f))
        {
            double expected = MathReference.GeluTanh(x);
            double error = Math.Max(Math.Abs(CpuMath.GeluTanh(x) - expected), Math.Abs(CpuMath.GeluTanh(Vector256.Create(x))[7] - expected));
            worst = Math.Max(worst, error / Math.Max(Math.Abs(expected), 1e-30));
        }

        // u = √(2/π)(x + 0.044715x³) is rounded once; exp(−2u) turns that into ~|2u|·2⁻²⁴ relative.
        Assert.True(worst <= 4e-6, $"GELU (tanh): relative error {worst:E2}");
    }

    [Theory]
    [InlineData(float.NaN, float.NaN, float.NaN)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity, 0f, 0f)]
    [InlineData(0f, 0f, 0f)]
    [InlineData(-30f, 0f, 0f)]
    public void Gelus_of_special_values(float x, float gelu, float geluTanh)
    {
        Assert.Equal(gelu, CpuMath.Gelu(x));
        Assert.Equal(gelu, CpuMath.Gelu(Vector256.Create(x))[0]);
        Assert.Equal(geluTanh, CpuMath.GeluTanh(x));
        Assert.Equal(geluTanh, CpuMath.GeluTanh(Vector256.Create(x))[0]);
    }

    [Fact]
    public void Erf_of_special_values()
    {
        Assert.Equal(1f, CpuMath.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, CpuMath.Erf(Vector256.Create(float.NegativeInfinity))[0]);
        Assert.True(float.IsNaN(CpuMath.Erf(float.NaN)) && float.IsNaN(CpuMath.Erfc(Vector256.Create(float.NaN))[0]));
        Assert.Equal(2f, CpuMath.Erfc(float.NegativeInfinity));
        Assert.Equal(0f, CpuMath.Erfc(Vector256.Create(float.PositiveInfinity))[0]);
        Assert.Equal(-0f, CpuMath.Erf(-0f));
    }
}
