using System.Runtime.CompilerServices;

namespace GpuViT.Kernels;

/// <summary>
/// The math a kernel may call. Each maps to the device's built-in, spelled for OpenCL C and CUDA C
/// in the generator's one intrinsic table (src/Kernels/Generator/Intrinsics.cs; a member missing
/// there is error GV0021); here it is computed in managed code for the emulator.
/// </summary>
public static class KernelMath
{
    public static float Exp(float x) => MathF.Exp(x);

    public static float Log(float x) => MathF.Log(x);

    public static float Sqrt(float x) => MathF.Sqrt(x);

    /// <summary>1/√x.</summary>
    public static float Rsqrt(float x) => 1f / MathF.Sqrt(x);

    public static float Tanh(float x) => MathF.Tanh(x);

    /// <summary>The error function, accurate to float precision.</summary>
    public static float Erf(float x) => (float)Erf((double)x);

    public static float Pow(float x, float y) => MathF.Pow(x, y);

    public static float Abs(float x) => MathF.Abs(x);

    public static int Abs(int x) => x < 0 ? -x : x;

    /// <summary>The smaller; like C's fmin, a NaN argument is ignored (MathF.Min would return NaN).</summary>
    public static float Min(float x, float y) => float.MinNumber(x, y);

    public static int Min(int x, int y) => x < y ? x : y;

    public static uint Min(uint x, uint y) => x < y ? x : y;

    /// <summary>The larger; like C's fmax, a NaN argument is ignored (MathF.Max would return NaN).</summary>
    public static float Max(float x, float y) => float.MaxNumber(x, y);

    public static int Max(int x, int y) => x > y ? x : y;

    public static uint Max(uint x, uint y) => x > y ? x : y;

    /// <summary>x·y + z with one rounding.</summary>
    public static float Fma(float x, float y, float z) => MathF.FusedMultiplyAdd(x, y, z);

    public static float Floor(float x) => MathF.Floor(x);

    public static float Ceiling(float x) => MathF.Ceiling(x);

    /// <summary>
    /// erf in double: the Maclaurin series below 4, where at most ~5 of 16 digits cancel; at and
    /// beyond 4, 1 − erf(x) &lt; 1.6e-8, under half a float ulp of 1, so ±1 is exact in float.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Erf(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }

        double a = Math.Abs(x);
        if (a >= 4.0)
        {
            return Math.CopySign(1.0, x);
        }

        // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
        double x2 = x * x;
        double power = x;   // (-1)^n x^(2n+1) / n!
        double sum = x;
        for (int n = 1; n < 200; n++)
        {
            power *= -x2 / n;
            double term = power / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-17 * Math.Abs(sum))
            {
                break;
            }
        }

        return sum * 1.1283791670955126; // 2/√π
    }
}
