using static GpuViT.Tests.Generator.GeneratorHarness;

namespace GpuViT.Tests.Generator;

/// <summary>The C that Half and BFloat16 views, loads, stores and shared arrays become in both dialects.</summary>
public sealed class Storage16GeneratorTests
{
    private const string Sample = """
        using System;
        using GpuViT.Kernels;

        public static class Sample
        {
            [Kernel]
            public static void Convert(KernelThread thread, ReadOnlyView<Half> h, ReadOnlyView<BFloat16> b, ReadWriteView<Half> o, ReadWriteView<BFloat16> p, int n)
            {
                var tile = Group.Shared<Half>(32);
                int i = thread.Global.X;
                tile[i % 32] = (Half)(float)h[i];
                o[i] = (Half)((float)tile[i % 32] * 2f);
                p[i] = (BFloat16)(float)b[i];
            }
        }
        """;

    [Fact]
    public void OpenCL_uses_vload_half_vstore_half_rte_and_the_bfloat16_functions()
    {
        string source = Run(Sample).KernelSource("openCLSource");

        Assert.Contains("__kernel void Convert(__global const half* gv_h, int gv_h_offset, __global const ushort* gv_b, int gv_b_offset, __global half* gv_o, int gv_o_offset, __global ushort* gv_p, int gv_p_offset, int n)", source);
        Assert.Contains("    __local ushort gv_tile[32];\n    __local half* tile = (__local half*)gv_tile;\n", source);
        Assert.Contains("    vstore_half_rte(vload_half(i, h), i % 32, tile);\n", source);
        Assert.Contains("    vstore_half_rte((vload_half(i % 32, tile) * 2.0f), i, o);\n", source);
        Assert.Contains("    p[i] = gv_float_to_bf16(gv_bf16_to_float(b[i]));\n", source);
        Assert.Contains("float gv_bf16_to_float(ushort bits)\n", source);
        Assert.Contains("ushort gv_float_to_bf16(float value)\n", source);
        Assert.Contains("return (ushort)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);", source);
        Assert.DoesNotContain("gv_half", source);
    }

    [Fact]
    public void Cuda_stores_both_as_unsigned_short_and_converts_half_with_PTX()
    {
        string source = Run(Sample).KernelSource("cudaSource");

        Assert.Contains("extern \"C\" __global__ void Convert(const unsigned short* h, const unsigned short* b, unsigned short* o, unsigned short* p, int n)", source);
        Assert.Contains("    __shared__ unsigned short tile[32];\n", source);
        Assert.Contains("    tile[i % 32] = gv_float_to_half(gv_half_to_float(h[i]));\n", source);
        Assert.Contains("    o[i] = gv_float_to_half((gv_half_to_float(tile[i % 32]) * 2.0f));\n", source);
        Assert.Contains("    p[i] = gv_float_to_bf16(gv_bf16_to_float(b[i]));\n", source);
        Assert.Contains("asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(bits) : \"f\"(value));", source);
        Assert.Contains("asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(value) : \"h\"(bits));", source);
        Assert.Contains("__device__ unsigned short gv_float_to_bf16(float value)\n", source);
        Assert.Contains("return __uint_as_float((unsigned int)bits << 16);", source);
    }

    [Fact]
    public void The_catalog_describes_2_byte_elements_and_builds()
    {
        Result result = Run(Sample);

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilationErrors);
        Assert.Contains("global::GpuViT.Kernels.ReadOnlyView<global::System.Half>", result.Catalog);
        Assert.Contains("global::GpuViT.Kernels.ReadWriteView<global::GpuViT.Kernels.BFloat16>", result.Catalog);
        KernelDescriptor kernel = Assert.Single(result.Load());
        Assert.Equal("Convert(ReadOnlyView<Half> h, ReadOnlyView<BFloat16> b, ReadWriteView<Half> o, ReadWriteView<BFloat16> p, int n)", kernel.ToString());
        Assert.Equal([ElementType.Half, ElementType.BFloat16, ElementType.Half, ElementType.BFloat16, ElementType.Int], kernel.Parameters.Select(p => p.ElementType));
        Assert.Equal(32 * 2, kernel.SharedMemoryBytes);
    }

    [Fact]
    public void Conversion_functions_come_only_with_the_element_types_a_kernel_uses()
    {
        KernelDescriptor halfOnly = GpuViT.Kernels.Generated.KernelCatalog.WidenHalf;
        KernelDescriptor bfloat16Only = GpuViT.Kernels.Generated.KernelCatalog.WidenBf16;
        KernelDescriptor none = GpuViT.Kernels.Generated.KernelCatalog.Add;

        Assert.DoesNotContain("gv_", halfOnly.OpenCLSource.Replace("gv_source", string.Empty).Replace("gv_destination", string.Empty));
        Assert.Contains("gv_half_to_float", halfOnly.CudaSource);
        Assert.DoesNotContain("bf16", halfOnly.CudaSource);
        Assert.DoesNotContain("gv_half", bfloat16Only.CudaSource);
        Assert.Contains("gv_bf16_to_float", bfloat16Only.OpenCLSource);
        Assert.DoesNotContain("bf16", none.OpenCLSource + none.CudaSource);
        Assert.DoesNotContain("gv_half", none.CudaSource);
    }
}
