namespace GpuViT.Kernels.Library;

/// <summary>
/// Reductions over the threads of a group through a shared buffer, for the row kernels
/// (RowSoftmax, RowLayerNorm). <c>width</c> is the group size, a power of two no larger than
/// the buffer. Every thread of the group must call them; the result reaches every thread, and
/// the buffer is free again when they return.
/// </summary>
public static class GroupReductions
{
    [DeviceFunction]
    public static float GroupSum(SharedArray<float> partial, int lane, int width, float value)
    {
        partial[lane] = value;
        Group.Barrier();
        for (int stride = width / 2; stride > 0; stride /= 2)
        {
            if (lane < stride)
            {
                partial[lane] += partial[lane + stride];
            }

            Group.Barrier();
        }

        float total = partial[0];

        // Nobody may overwrite partial[0] for the next reduction before every thread has read it.
        Group.Barrier();
        return total;
    }

    /// <summary>The maximum; like fmax, a NaN is ignored unless every value is NaN.</summary>
    [DeviceFunction]
    public static float GroupMax(SharedArray<float> partial, int lane, int width, float value)
    {
        partial[lane] = value;
        Group.Barrier();
        for (int stride = width / 2; stride > 0; stride /= 2)
        {
            if (lane < stride)
            {
                partial[lane] = KernelMath.Max(partial[lane], partial[lane + stride]);
            }

            Group.Barrier();
        }

        float total = partial[0];
        Group.Barrier();
        return total;
    }
}
