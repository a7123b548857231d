namespace GpuViT.Tests.Kernels;

/// <summary>Every kernel of the library and of the tests, for theories over kernels.</summary>
public static class AllKernels
{
    public static IReadOnlyList<KernelDescriptor> Descriptors { get; } =
        GpuViT.Kernels.Generated.KernelCatalog.All.Concat(GpuViT.Tests.Generated.KernelCatalog.All).ToArray();

    public static TheoryData<string> Names
    {
        get
        {
            var names = new TheoryData<string>();
            foreach (KernelDescriptor kernel in Descriptors)
            {
                names.Add(kernel.Name);
            }

            return names;
        }
    }

    public static KernelDescriptor Get(string name) => Descriptors.Single(k => k.Name == name);
}
