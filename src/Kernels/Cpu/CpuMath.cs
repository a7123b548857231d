using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// Float math for the cpu backend's ops, scalar, Vector256 and Vector512, all with the same
/// operations in the same order, so a lane equals the scalar bit for bit: exp within 2 ulp
/// (denormal results included), erf within 3 ulp, erfc keeping relative accuracy in its tail,
/// and GELU exact and tanh-approximated without cancellation for negative x.
/// </summary>
public static class CpuMath
{
    private const float InverseSqrt2 = 0.70710678118654752f;
    private const float Sqrt2OverPi = 0.79788456080286536f;

    // exp: n = round(x/ln 2), r = x − n·ln 2 in two parts (Cody and Waite; C1 has 9 bits, so n·C1 is
    // exact), e^r by a minimax polynomial on [−ln2/2, ln2/2] (Cephes' expf), times 2^n in one
    // rounding (vscalefps, or two exact powers of two), so denormal results are right and
    // x > ln(float.MaxValue) overflows to ∞. Adding 1.5·2²³ rounds x/ln 2 to an integer.
    private const float Log2E = 1.44269504088896341f;
    private const float RoundingShift = 12582912f; // 1.5·2²³
    private const float ExpC1 = 0.693359375f, ExpC2 = -2.12194440e-4f;
    private const float E0 = 1.9875691500e-4f, E1 = 1.3981999507e-3f, E2 = 8.3334519073e-3f,
        E3 = 4.1665795894e-2f, E4 = 1.6666665459e-1f, E5 = 5.0000001201e-1f;
    private const float ExpClampAbove = 89f; // e^89 overflows, and 2^n stays a float
    private const float ExpClampBelow = -104f; // e^−104 is under half the smallest denormal

    // erf(a) = a·P(a²) below SeriesLimit (for relative accuracy near 0), 1 − erfc(a) from it on;
    // erfc(a) = exp(−a²)·t·Q(t) with t = 2/(2 + a) for every a ≥ 0, which GELU uses alone.
    private const float SeriesLimit = 0.921875f;

    // P: least squares in a² for relative error on [0, SeriesLimit] (4.5e-10 in double).
    private const float P0 = 1.128379166894439f, P1 = -0.37612634920925037f, P2 = 0.11283708214664148f,
        P3 = -0.02685994834406681f, P4 = 0.00520215807352209f, P5 = -0.0008153608989733135f,
        P6 = 8.410391568138692e-05f;

    // Q: least squares in t for the relative error of erfc(a)·exp(a²)/t on a in [0, 25] (6.5e-10 in
    // double); beyond 25 exp(−a²) is 0 in float anyway.
    private const float Q0 = 0.28209491892363175f, Q1 = 0.28208883092472853f, Q2 = 0.2469497289876856f,
        Q3 = 0.17505087187784574f, Q4 = 0.09198428096086535f, Q5 = -0.03825952519078188f,
        Q6 = 0.028204679822537704f, Q7 = -0.16156430704959787f, Q8 = -0.02543672432256442f,
        Q9 = 0.35245049143644225f, Q10 = -0.36985492324318797f, Q11 = 0.16481170989502478f, Q12 = -0.028520033629978597f;

    // exp(−a²) is 0 in float beyond this; clamping also keeps ∞ out of the a² split (∞ − ∞).
    private const float TailClamp = 30f;

    // GELU(x) is 0 in float below this (x·Φ(x) underflows); it also makes GELU(−∞) 0, not ∞·0.
    private const float GeluZeroBelow = -20f;

    /// <summary>eˣ, within 1 ulp.</summary>
    public static float Exp(float x)
    {
        float clamped = x > ExpClampAbove ? ExpClampAbove : x < ExpClampBelow ? ExpClampBelow : x;
        float shifted = MathF.FusedMultiplyAdd(clamped, Log2E, RoundingShift);
        float n = shifted - RoundingShift;
        float r = MathF.FusedMultiplyAdd(-n, ExpC1, clamped);
        r = MathF.FusedMultiplyAdd(-n, ExpC2, r);
        float p = MathF.FusedMultiplyAdd(E0, r, E1);
        p = MathF.FusedMultiplyAdd(p, r, E2);
        p = MathF.FusedMultiplyAdd(p, r, E3);
        p = MathF.FusedMultiplyAdd(p, r, E4);
        p = MathF.FusedMultiplyAdd(p, r, E5);
        float y = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        int exponent = BitConverter.SingleToInt32Bits(shifted) - BitConverter.SingleToInt32Bits(RoundingShift);
        int half = exponent >> 1;
        return y * BitConverter.Int32BitsToSingle((half + 127) << 23) * BitConverter.Int32BitsToSingle((exponent - half + 127) << 23);
    }

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
        float tail = ErfcTail(MathF.Abs(x));
        return x < 0 ? 2f - tail : tail;
    }

    /// <summary>
    /// GELU(x) = x·Φ(x) = 0.5·x·erfc(−x/√2): no cancellation for x &lt; 0, and the tail's exp(−x²/2)
    /// is split from x itself, since rounding x/√2 first would cost ~|x|²·2⁻²⁴ relative.
    /// </summary>
    public static float Gelu(float x)
    {
        float absX = MathF.Abs(x);
        float c = absX > TailClamp ? TailClamp : absX;
        float hi = c * c;
        float tail = ErfcTail(absX * InverseSqrt2, 0.5f * hi, 0.5f * MathF.FusedMultiplyAdd(c, c, -hi));
        float phi = 0.5f * (x > 0 ? 2f - tail : tail);
        return x < GeluZeroBelow ? 0f : x * phi;
    }

    /// <summary>
    /// 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³), computed as x/(1 + exp(−2u)), which is the
    /// same value without the cancellation of 1 + tanh(u) for x &lt; 0.
    /// </summary>
    public static float GeluTanh(float x)
    {
        float u = Sqrt2OverPi * MathF.FusedMultiplyAdd(0.044715f * x, x * x, x);
        float value = x / (1f + Exp(-2f * u));
        return x < GeluZeroBelow ? 0f : value;
    }

    private static float SeriesPolynomial(float s)
    {
        float p = MathF.FusedMultiplyAdd(P6, s, P5);
        p = MathF.FusedMultiplyAdd(p, s, P4);
        p = MathF.FusedMultiplyAdd(p, s, P3);
        p = MathF.FusedMultiplyAdd(p, s, P2);
        p = MathF.FusedMultiplyAdd(p, s, P1);
        return MathF.FusedMultiplyAdd(p, s, P0);
    }

    // erfc(a) for a ≥ 0. exp(−a²) = exp(−hi)·exp(−lo) with a² = hi + lo exactly (FMA),
    // so the rounding of a² (up to 900·2⁻²⁴ in the exponent) does not cost relative accuracy.
    private static float ErfcTail(float a)
    {
        float c = a > TailClamp ? TailClamp : a;
        float hi = c * c;
        return ErfcTail(a, hi, MathF.FusedMultiplyAdd(c, c, -hi));
    }

    // erfc(a) given a² = hi + lo.
    private static float ErfcTail(float a, float hi, float lo)
    {
        float t = 2f / (2f + a);
        float q = MathF.FusedMultiplyAdd(Q12, t, Q11);
        q = MathF.FusedMultiplyAdd(q, t, Q10);
        q = MathF.FusedMultiplyAdd(q, t, Q9);
        q = MathF.FusedMultiplyAdd(q, t, Q8);
        q = MathF.FusedMultiplyAdd(q, t, Q7);
        q = MathF.FusedMultiplyAdd(q, t, Q6);
        q = MathF.FusedMultiplyAdd(q, t, Q5);
        q = MathF.FusedMultiplyAdd(q, t, Q4);
        q = MathF.FusedMultiplyAdd(q, t, Q3);
        q = MathF.FusedMultiplyAdd(q, t, Q2);
        q = MathF.FusedMultiplyAdd(q, t, Q1);
        q = MathF.FusedMultiplyAdd(q, t, Q0);
        return Exp(-hi) * (1f - lo) * (t * q);
    }

    // ---- Vector256: the scalar functions above, lane by lane, branches as selects.

    /// <summary>eˣ of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> clamped = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(ExpClampAbove)), Vector256.Create(ExpClampAbove), x);
        clamped = Vector256.ConditionalSelect(Vector256.LessThan(clamped, Vector256.Create(ExpClampBelow)), Vector256.Create(ExpClampBelow), clamped);
        Vector256<float> shifted = Vector256.FusedMultiplyAdd(clamped, Vector256.Create(Log2E), Vector256.Create(RoundingShift));
        Vector256<float> n = shifted - Vector256.Create(RoundingShift);
        Vector256<float> r = Vector256.FusedMultiplyAdd(-n, Vector256.Create(ExpC1), clamped);
        r = Vector256.FusedMultiplyAdd(-n, Vector256.Create(ExpC2), r);
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(E0), r, Vector256.Create(E1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E5));
        Vector256<float> y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        if (Avx512F.VL.IsSupported)
        {
            return Avx512F.VL.Scale(y, n);
        }

        Vector256<int> exponent = shifted.AsInt32() - Vector256.Create(RoundingShift).AsInt32();
        Vector256<int> half = Vector256.ShiftRightArithmetic(exponent, 1);
        Vector256<int> bias = Vector256.Create(127);
        return y * Vector256.ShiftLeft(half + bias, 23).AsSingle() * Vector256.ShiftLeft(exponent - half + bias, 23).AsSingle();
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
        Vector256<float> tail = ErfcTail(Vector256.Abs(x));
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), Vector256.Create(2f) - tail, tail);
    }

    /// <summary>GELU (exact) of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Gelu(Vector256<float> x)
    {
        Vector256<float> absX = Vector256.Abs(x);
        Vector256<float> c = ClampTail(absX);
        Vector256<float> hi = c * c;
        Vector256<float> lo = Vector256.FusedMultiplyAdd(c, c, -hi);
        Vector256<float> half = Vector256.Create(0.5f);
        Vector256<float> tail = ErfcTail(absX * Vector256.Create(InverseSqrt2), half * hi, half * lo);
        Vector256<float> phi = half * Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256.Create(2f) - tail, tail);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(GeluZeroBelow)), Vector256<float>.Zero, x * phi);
    }

    /// <summary>GELU (tanh approximation) of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GeluTanh(Vector256<float> x)
    {
        Vector256<float> u = Vector256.Create(Sqrt2OverPi) * Vector256.FusedMultiplyAdd(Vector256.Create(0.044715f) * x, x * x, x);
        Vector256<float> value = x / (Vector256<float>.One + Exp(Vector256.Create(-2f) * u));
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(GeluZeroBelow)), Vector256<float>.Zero, value);
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
        Vector256<float> q = Vector256.FusedMultiplyAdd(Vector256.Create(Q12), t, Vector256.Create(Q11));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q10));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q9));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q8));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q7));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q6));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q5));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q4));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q3));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q2));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q1));
        q = Vector256.FusedMultiplyAdd(q, t, Vector256.Create(Q0));
        return Exp(-hi) * (Vector256<float>.One - lo) * (t * q);
    }

    // ---- Vector512: the scalar functions above, lane by lane, branches as selects.

    /// <summary>eˣ of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        Vector512<float> clamped = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(ExpClampAbove)), Vector512.Create(ExpClampAbove), x);
        clamped = Vector512.ConditionalSelect(Vector512.LessThan(clamped, Vector512.Create(ExpClampBelow)), Vector512.Create(ExpClampBelow), clamped);
        Vector512<float> shifted = Vector512.FusedMultiplyAdd(clamped, Vector512.Create(Log2E), Vector512.Create(RoundingShift));
        Vector512<float> n = shifted - Vector512.Create(RoundingShift);
        Vector512<float> r = Vector512.FusedMultiplyAdd(-n, Vector512.Create(ExpC1), clamped);
        r = Vector512.FusedMultiplyAdd(-n, Vector512.Create(ExpC2), r);
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(E0), r, Vector512.Create(E1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E5));
        Vector512<float> y = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        if (Avx512F.IsSupported)
        {
            return Avx512F.Scale(y, n);
        }

        Vector512<int> exponent = shifted.AsInt32() - Vector512.Create(RoundingShift).AsInt32();
        Vector512<int> half = Vector512.ShiftRightArithmetic(exponent, 1);
        Vector512<int> bias = Vector512.Create(127);
        return y * Vector512.ShiftLeft(half + bias, 23).AsSingle() * Vector512.ShiftLeft(exponent - half + bias, 23).AsSingle();
    }

    /// <summary>erf of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Erf(Vector512<float> x)
    {
        Vector512<float> a = Vector512.Abs(x);
        Vector512<float> series = a * SeriesPolynomial(a * a);
        Vector512<float> tail = Vector512<float>.One - ErfcTail(a);
        Vector512<float> value = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(SeriesLimit)), series, tail);
        return Vector512.CopySign(value, x);
    }

    /// <summary>erfc of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Erfc(Vector512<float> x)
    {
        Vector512<float> tail = ErfcTail(Vector512.Abs(x));
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), Vector512.Create(2f) - tail, tail);
    }

    /// <summary>GELU (exact) of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Gelu(Vector512<float> x)
    {
        Vector512<float> absX = Vector512.Abs(x);
        Vector512<float> c = ClampTail(absX);
        Vector512<float> hi = c * c;
        Vector512<float> lo = Vector512.FusedMultiplyAdd(c, c, -hi);
        Vector512<float> half = Vector512.Create(0.5f);
        Vector512<float> tail = ErfcTail(absX * Vector512.Create(InverseSqrt2), half * hi, half * lo);
        Vector512<float> phi = half * Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), Vector512.Create(2f) - tail, tail);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(GeluZeroBelow)), Vector512<float>.Zero, x * phi);
    }

    /// <summary>GELU (tanh approximation) of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> GeluTanh(Vector512<float> x)
    {
        Vector512<float> u = Vector512.Create(Sqrt2OverPi) * Vector512.FusedMultiplyAdd(Vector512.Create(0.044715f) * x, x * x, x);
        Vector512<float> value = x / (Vector512<float>.One + Exp(Vector512.Create(-2f) * u));
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(GeluZeroBelow)), Vector512<float>.Zero, value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SeriesPolynomial(Vector512<float> s)
    {
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(P6), s, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(P1));
        return Vector512.FusedMultiplyAdd(p, s, Vector512.Create(P0));
    }

    // min(a, TailClamp) that keeps NaN (NaN > TailClamp is false).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ClampTail(Vector512<float> a) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(a, Vector512.Create(TailClamp)), Vector512.Create(TailClamp), a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ErfcTail(Vector512<float> a)
    {
        Vector512<float> c = ClampTail(a);
        Vector512<float> hi = c * c;
        return ErfcTail(a, hi, Vector512.FusedMultiplyAdd(c, c, -hi));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ErfcTail(Vector512<float> a, Vector512<float> hi, Vector512<float> lo)
    {
        Vector512<float> t = Vector512.Create(2f) / (Vector512.Create(2f) + a);
        Vector512<float> q = Vector512.FusedMultiplyAdd(Vector512.Create(Q12), t, Vector512.Create(Q11));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q10));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q9));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q8));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q7));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q6));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q5));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q4));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q3));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q2));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q1));
        q = Vector512.FusedMultiplyAdd(q, t, Vector512.Create(Q0));
        return Exp(-hi) * (Vector512<float>.One - lo) * (t * q);
    }
}
