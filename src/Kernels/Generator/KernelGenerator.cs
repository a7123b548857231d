using Microsoft.CodeAnalysis;

namespace GpuViT.Kernels.Generator;

[Generator(LanguageNames.CSharp)]
public sealed class KernelGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
    }
}
