namespace GpuViT.Kernels.Library;

/// <summary>Element-wise kernels: one thread per element, 1D launch over n.</summary>
public static class Elementwise
{
    /// <summary>c[i] = a[i] + b[i] for i &lt; n. c may alias a or b.</summary>
    [Kernel]
    public static void Add(KernelThread thread, ReadOnlyView<float> a, ReadOnlyView<float> b, ReadWriteView<float> c, int n)
    {
        int i = thread.Global.X;
        if (i < n)
        {
            c[i] = a[i] + b[i];
        }
    }
}
