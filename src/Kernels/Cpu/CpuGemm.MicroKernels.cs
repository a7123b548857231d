using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuViT.Kernels.Cpu;

// The micro-kernels: an MR × NR tile of Y in registers, one accumulator per register (named, not
// an array, so the JIT keeps them enregistered), fed by one broadcast of packed X and NR/lanes
// loads of packed W per k step. Written out longhand on purpose; a loop here would spill.
// TPrefetch is NoPrefetch or Prefetching: the JIT compiles each instantiation apart, so the
// prefetch of the next W panel (one per k step, at prefetch + p·prefetchStep bytes, for W packed
// before the call) costs nothing where it is off, and the arithmetic is the same either way.
public static unsafe partial class CpuGemm
{
    /// <summary>A micro-kernel instantiated with it issues no prefetches (its prefetch arguments are ignored).</summary>
    internal struct NoPrefetch;

    /// <summary>
    /// A micro-kernel instantiated with it prefetches a share of the next W panel per k step, so
    /// its fetch from memory overlaps this panel's FMAs (the hardware prefetchers see no misses
    /// while the current panel is served from cache).
    /// </summary>
    internal struct Prefetching;

    /// <summary>tile[i·32 + j] = Σ_p a[p·12 + i]·b[p·32 + j], p &lt; kc: 24 zmm accumulators, 2 loads of W and 12 broadcasts per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32<TPrefetch>(int kc, float* a, float* b, float* tile, byte* prefetch, nint prefetchStep)
        where TPrefetch : struct
    {
        Vector512<float> c0_0 = default; Vector512<float> c0_1 = default;
        Vector512<float> c1_0 = default; Vector512<float> c1_1 = default;
        Vector512<float> c2_0 = default; Vector512<float> c2_1 = default;
        Vector512<float> c3_0 = default; Vector512<float> c3_1 = default;
        Vector512<float> c4_0 = default; Vector512<float> c4_1 = default;
        Vector512<float> c5_0 = default; Vector512<float> c5_1 = default;
        Vector512<float> c6_0 = default; Vector512<float> c6_1 = default;
        Vector512<float> c7_0 = default; Vector512<float> c7_1 = default;
        Vector512<float> c8_0 = default; Vector512<float> c8_1 = default;
        Vector512<float> c9_0 = default; Vector512<float> c9_1 = default;
        Vector512<float> c10_0 = default; Vector512<float> c10_1 = default;
        Vector512<float> c11_0 = default; Vector512<float> c11_1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b + 0);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            Vector512<float> a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            Vector512<float> a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            Vector512<float> a8 = Vector512.Create(a[8]);
            c8_0 = Vector512.FusedMultiplyAdd(a8, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(a8, b1, c8_1);
            Vector512<float> a9 = Vector512.Create(a[9]);
            c9_0 = Vector512.FusedMultiplyAdd(a9, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(a9, b1, c9_1);
            Vector512<float> a10 = Vector512.Create(a[10]);
            c10_0 = Vector512.FusedMultiplyAdd(a10, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(a10, b1, c10_1);
            Vector512<float> a11 = Vector512.Create(a[11]);
            c11_0 = Vector512.FusedMultiplyAdd(a11, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(a11, b1, c11_1);
            if (typeof(TPrefetch) == typeof(Prefetching) && Sse.IsSupported)
            {
                Sse.Prefetch1(prefetch);
            }

            prefetch += prefetchStep;
            a += 12;
            b += 32;
        }

        Vector512.Store(c0_0, tile + 0); Vector512.Store(c0_1, tile + 16);
        Vector512.Store(c1_0, tile + 32); Vector512.Store(c1_1, tile + 48);
        Vector512.Store(c2_0, tile + 64); Vector512.Store(c2_1, tile + 80);
        Vector512.Store(c3_0, tile + 96); Vector512.Store(c3_1, tile + 112);
        Vector512.Store(c4_0, tile + 128); Vector512.Store(c4_1, tile + 144);
        Vector512.Store(c5_0, tile + 160); Vector512.Store(c5_1, tile + 176);
        Vector512.Store(c6_0, tile + 192); Vector512.Store(c6_1, tile + 208);
        Vector512.Store(c7_0, tile + 224); Vector512.Store(c7_1, tile + 240);
        Vector512.Store(c8_0, tile + 256); Vector512.Store(c8_1, tile + 272);
        Vector512.Store(c9_0, tile + 288); Vector512.Store(c9_1, tile + 304);
        Vector512.Store(c10_0, tile + 320); Vector512.Store(c10_1, tile + 336);
        Vector512.Store(c11_0, tile + 352); Vector512.Store(c11_1, tile + 368);
    }

    /// <summary>
    /// The first 6 rows of <see cref="Kernel12x32"/>'s tile, from the same 12-row panel of packed X
    /// (a[p·12 + i], i &lt; 6): for a last panel of 6 rows or fewer, half the work of the full
    /// kernel. 12 zmm accumulators still cover two FMA units of latency 4. Each output is the same
    /// chain of FMAs over p as in the full kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6of12x32<TPrefetch>(int kc, float* a, float* b, float* tile, byte* prefetch, nint prefetchStep)
        where TPrefetch : struct
    {
        Vector512<float> c0_0 = default; Vector512<float> c0_1 = default;
        Vector512<float> c1_0 = default; Vector512<float> c1_1 = default;
        Vector512<float> c2_0 = default; Vector512<float> c2_1 = default;
        Vector512<float> c3_0 = default; Vector512<float> c3_1 = default;
        Vector512<float> c4_0 = default; Vector512<float> c4_1 = default;
        Vector512<float> c5_0 = default; Vector512<float> c5_1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b + 0);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            if (typeof(TPrefetch) == typeof(Prefetching) && Sse.IsSupported)
            {
                Sse.Prefetch1(prefetch);
            }

            prefetch += prefetchStep;
            a += 12;
            b += 32;
        }

        Vector512.Store(c0_0, tile + 0); Vector512.Store(c0_1, tile + 16);
        Vector512.Store(c1_0, tile + 32); Vector512.Store(c1_1, tile + 48);
        Vector512.Store(c2_0, tile + 64); Vector512.Store(c2_1, tile + 80);
        Vector512.Store(c3_0, tile + 96); Vector512.Store(c3_1, tile + 112);
        Vector512.Store(c4_0, tile + 128); Vector512.Store(c4_1, tile + 144);
        Vector512.Store(c5_0, tile + 160); Vector512.Store(c5_1, tile + 176);
    }

    /// <summary>tile[i·16 + j] = Σ_p a[p·6 + i]·b[p·16 + j], p &lt; kc: 12 ymm accumulators, 2 loads of W and 6 broadcasts per step.</summary>
    /// <remarks>Never prefetches (its prefetch arguments are there for the common signature): narrow machines have no prefetching tuning.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* tile, byte* prefetch, nint prefetchStep)
    {
        Vector256<float> c0_0 = default; Vector256<float> c0_1 = default;
        Vector256<float> c1_0 = default; Vector256<float> c1_1 = default;
        Vector256<float> c2_0 = default; Vector256<float> c2_1 = default;
        Vector256<float> c3_0 = default; Vector256<float> c3_1 = default;
        Vector256<float> c4_0 = default; Vector256<float> c4_1 = default;
        Vector256<float> c5_0 = default; Vector256<float> c5_1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b + 0);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> a0 = Vector256.Create(a[0]);
            c0_0 = Vector256.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector256.FusedMultiplyAdd(a0, b1, c0_1);
            Vector256<float> a1 = Vector256.Create(a[1]);
            c1_0 = Vector256.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector256.FusedMultiplyAdd(a1, b1, c1_1);
            Vector256<float> a2 = Vector256.Create(a[2]);
            c2_0 = Vector256.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector256.FusedMultiplyAdd(a2, b1, c2_1);
            Vector256<float> a3 = Vector256.Create(a[3]);
            c3_0 = Vector256.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector256.FusedMultiplyAdd(a3, b1, c3_1);
            Vector256<float> a4 = Vector256.Create(a[4]);
            c4_0 = Vector256.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector256.FusedMultiplyAdd(a4, b1, c4_1);
            Vector256<float> a5 = Vector256.Create(a[5]);
            c5_0 = Vector256.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector256.FusedMultiplyAdd(a5, b1, c5_1);
            a += 6;
            b += 16;
        }

        Vector256.Store(c0_0, tile + 0); Vector256.Store(c0_1, tile + 8);
        Vector256.Store(c1_0, tile + 16); Vector256.Store(c1_1, tile + 24);
        Vector256.Store(c2_0, tile + 32); Vector256.Store(c2_1, tile + 40);
        Vector256.Store(c3_0, tile + 48); Vector256.Store(c3_1, tile + 56);
        Vector256.Store(c4_0, tile + 64); Vector256.Store(c4_1, tile + 72);
        Vector256.Store(c5_0, tile + 80); Vector256.Store(c5_1, tile + 88);
    }
}
