using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// Float math for the cpu backend's ops, scalar and Vector256, with the same formulas so a lane
/// and a scalar agree to an ulp or two: erf and erfc within a few ulp of the float-rounded value,
/// and GELU exact and tanh-approximated without cancellation in the negative tail.
/// </summary>
public static class CpuMath
{
    private const float InverseSqrt2 = 0.70710678118654752f;
    private const float Sqrt2OverPi = 0.79788456080286536f;

    // erf(a) = a·P(a²) below SeriesLimit, 1 − erfc(a) from it on; erfc(a) = 1 − a·P(a²) below
    // ErfcSeriesLimit (where 1 − erf loses at most a bit) and exp(−a²)·t·Q(t), t = 2/(2 + a), from it on.
    private const float SeriesLimit = 0.921875f;
    private const float ErfcSeriesLimit = 0.5f;

    // P: least squares in a² for relative error on [0, SeriesLimit] (4.5e-10 in double).
    private const float P0 = 1.128379166894439f, P1 = -0.37612634920925037f, P2 = 0.11283708214664148f,
        P3 = -0.02685994834406681f, P4 = 0.00520215807352209f, P5 = -0.0008153608989733135f,
        P6 = 8.410391568138692e-05f;

    // Q: least squares in t for the relative error of erfc(a)·exp(a²)/t on a in [ErfcSeriesLimit, 25]
    // (8.7e-9 in double); beyond 25 exp(−a²) is 0 in float anyway.
    private const float Q0 = 0.2820942617173015f, Q1 = 0.2821156593650321f, Q2 = 0.24650549274831066f,
        Q3 = 0.17896128491992724f, Q4 = 0.07192275601321402f, Q5 = 0.022501461829770218f,
        Q6 = -0.0698369481329415f, Q7 = -0.13228844325821545f, Q8 = 0.17340573491065248f,
        Q9 = -0.05543842301930388f;

    // exp(−a²) is 0 in float beyond this; clamping also keeps ∞ out of the a² split (∞ − ∞).
    private const float TailClamp = 30f;

    // GELU(x) is 0 in float below this (x·Φ(x) underflows); it also makes GELU(−∞) 0, not ∞·0.
    private const float GeluZeroBelow = -20f;

    /// <summary>erf(x).</summary>
    public static float Erf(float x)
    {
        float a = MathF.Abs(x);
        float value = a < SeriesLimit ? a * SeriesPolynomial(a * a) : 1f - ErfcTail(a);
        return MathF.CopySign(value, x);
    }

    /// <summary>erfc(x) = 1 − erf(x), with relative accuracy for large x where 1 − erf(x) would cancel.</summary>
    public static float Erfc(float x)
    {
        float a = MathF.Abs(x);
        float tail = a < ErfcSeriesLimit ? 1f - a * SeriesPolynomial(a * a) : ErfcTail(a);
        return x < 0 ? 2f - tail : tail;
    }

    /// <summary>
    /// GELU(x) = x·Φ(x) = 0.5·x·erfc(−x/√2): no cancellation for x &lt; 0, and the tail's exp(−x²/2)
    /// is split from x itself, since rounding x/√2 first would cost ~|x|²·2⁻²⁴ relative.
    /// </summary>
    public static float Gelu(float x)
    {
        float a = MathF.Abs(x) * InverseSqrt2;
        float tail;
        if (a < ErfcSeriesLimit)
        {
            tail = 1f - a * SeriesPolynomial(a * a);
        }
        else
        {
            float c = MathF.Min(MathF.Abs(x), TailClamp);
            float hi = c * c;
            tail = ErfcTail(a, 0.5f * hi, 0.5f * MathF.FusedMultiplyAdd(c, c, -hi));
        }

        float phi = 0.5f * (x > 0 ? 2f - tail : tail);
        return x < GeluZeroBelow ? 0f : x * phi;
    }

    /// <summary>
    /// 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³), computed as x/(1 + exp(−2u)), which is the
    /// same value without the cancellation of 1 + tanh(u) for x &lt; 0.
    /// </summary>
    public static float GeluTanh(float x)
    {
        if (x < GeluZeroBelow)
        {
            return 0f;
        }

        float u = Sqrt2OverPi * MathF.FusedMultiplyAdd(0.044715f * x, x * x, x);
        return x / (1f + MathF.Exp(-2f * u));
    }

    /// <summary>erf of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x)
    {
        Vector256<float> a = Vector256.Abs(x);
        Vector256<float> series = a * SeriesPolynomial(a * a);
        Vector256<float> tail = Vector256<float>.One - ErfcTail(a);
        Vector256<float> value = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(SeriesLimit)), series, tail);
        return Vector256.CopySign(value, x);
    }

    /// <summary>erfc of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erfc(Vector256<float> x)
    {
        Vector256<float> a = Vector256.Abs(x);
        Vector256<float> series = Vector256<float>.One - a * SeriesPolynomial(a * a);
        Vector256<float> tail = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(ErfcSeriesLimit)), series, ErfcTail(a));
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), Vector256.Create(2f) - tail, tail);
    }

    /// <summary>GELU (exact) of each lane, as the scalar <see cref="Gelu(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Gelu(Vector256<float> x)
    {
        Vector256<float> absX = Vector256.Abs(x);
        Vector256<float> a = absX * Vector256.Create(InverseSqrt2);
        Vector256<float> series = Vector256<float>.One - a * SeriesPolynomial(a * a);
        Vector256<float> c = ClampTail(absX);
        Vector256<float> hi = c * c;
        Vector256<float> lo = Vector256.FusedMultiplyAdd(c, c, -hi);
        Vector256<float> half = Vector256.Create(0.5f);
        Vector256<float> tail = Vector256.ConditionalSelect(
            Vector256.LessThan(a, Vector256.Create(ErfcSeriesLimit)), series, ErfcTail(a, half * hi, half * lo));
        Vector256<float> phi = half * Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256.Create(2f) - tail, tail);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(GeluZeroBelow)), Vector256<float>.Zero, x * phi);
    }

    /// <summary>GELU (tanh approximation) of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GeluTanh(Vector256<float> x)
    {
        Vector256<float> u = Vector256.Create(Sqrt2OverPi) * Vector256.FusedMultiplyAdd(Vector256.Create(0.044715f) * x, x * x, x);
        Vector256<float> value = x / (Vector256<float>.One + Vector256.Exp(Vector256.Create(-2f) * u));
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(GeluZeroBelow)), Vector256<float>.Zero, value);
    }

    private static float SeriesPolynomial(float s) =>
        MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(P6, s, P5), s, P4), s, P3), s, P2), s, P1), s, P0);

    // erfc(a) for a ≥ ErfcSeriesLimit. exp(−a²) = exp(−hi)·exp(−lo) with a² = hi + lo exactly (FMA),
    // so the rounding of a² (up to 900·2⁻²⁴ in the exponent) does not cost relative accuracy.
    private static float ErfcTail(float a)
    {
        float c = MathF.Min(a, TailClamp);
        float hi = c * c;
        return ErfcTail(a, hi, MathF.FusedMultiplyAdd(c, c, -hi));
    }

    // erfc(a) given a² = hi + lo.
    private static float ErfcTail(float a, float hi, float lo)
    {
        float t = 2f / (2f + a);
        float q = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(Q9, t, Q8), t, Q7), t, Q6), t, Q5), t, Q4), t, Q3), t, Q2), t, Q1), t, Q0);
        return MathF.Exp(-hi) * (1f - lo) * (t * q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SeriesPolynomial(Vector256<float> s)
    {
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(P6), s, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(P1));
        return Vector256.FusedMultiplyAdd(p, s, Vector256.Create(P0));
    }

    // min(a, TailClamp) that keeps NaN (NaN > TailClamp is false).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ClampTail(Vector256<float> a) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256.Create(TailClamp)), Vector256.Create(TailClamp), a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ErfcTail(Vector256<float> a)
    {
        Vector256<float> c = ClampTail(a);
        Vector256<float> hi = c * c;
        return ErfcTail(a, hi, Vector256.FusedMultiplyAdd(c, c, -hi));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ErfcTail(Vector256<float> a, Vector256<float> hi, Vector256<float> lo)
    {
        Vector256<float> t = Vector256.Create(2f) / (Vector256.Create(2f) + a);
        Vector256<float> q = Vector256.FusedMultiplyAdd(Vector256.Create(Q9), t, Vector256.Create(Q8));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q7));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q6));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q5));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q4));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q3));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q2));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q1));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q0));
        return Vector256.Exp(-hi) * (Vector256<float>.One - lo) * (t * q);
    }
}
