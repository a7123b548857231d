using System.Buffers.Binary;
using System.Text;
using GpuViT.Kernels.Cuda;
using GpuViT.Tests.Kernels;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Runtime;

/// <summary>Registers, shared memory and stack read from NVRTC's cubins, and `gpuvit kernels --resources`.</summary>
public sealed class CubinResourcesTests
{
    /// <summary>
    /// At sm_80 the cubin records each kernel's registers twice: in .nv.info (what the reader
    /// uses) and in the top byte of its .text section's sh_info. The two must agree for every kernel.
    /// </summary>
    [Fact]
    public void Registers_agree_with_the_text_sections_own_count_for_every_kernel_nvrtc()
    {
        RuntimeRequirement.Nvrtc();
        foreach (KernelDescriptor kernel in GpuViT.Kernels.Generated.KernelCatalog.All)
        {
            byte[] cubin = Nvrtc.CompileToCubin(kernel, "sm_80");
            KernelResources resources = CubinResources.Read(cubin, kernel.Name);
            Assert.True(resources.Registers is > 0 and <= 255, $"{kernel.Name}: {resources.Registers} registers");
            Assert.Equal(TextSectionRegisters(cubin, kernel.Name), resources.Registers);
            Assert.Equal(0, resources.StackBytes);
        }
    }

    [Theory]
    [InlineData("sm_80")]
    [InlineData("sm_90")]
    public void Shared_memory_is_what_the_kernel_declares_plus_at_most_a_reserved_kib_nvrtc(string architecture)
    {
        RuntimeRequirement.Nvrtc();
        foreach (string name in new[] { "RowSoftmax", "GemmRegisterBlocked", "RnnPoolChannels", "Add", "RnnStepUnsharedStreaming" })
        {
            KernelDescriptor kernel = AllKernels.Get(name);
            KernelResources resources = CubinResources.Read(Nvrtc.CompileToCubin(kernel, architecture), name);
            Assert.True(resources.SharedBytes >= kernel.SharedMemoryBytes && resources.SharedBytes <= kernel.SharedMemoryBytes + 1024,
                $"{name} at {architecture}: {resources.SharedBytes} B in the cubin, {kernel.SharedMemoryBytes} B declared");
            Assert.Equal(kernel.SharedMemoryBytes == 0, resources.SharedBytes == 0);
        }
    }

    [Fact]
    public void Not_a_cubin_or_no_such_kernel_is_invalid_data_nvrtc()
    {
        RuntimeRequirement.Nvrtc();
        Assert.Throws<InvalidDataException>(() => CubinResources.Read("not an elf file at all, but long enough to be read as one........"u8, "Add"));
        byte[] cubin = Nvrtc.CompileToCubin(AllKernels.Get("Add"), "sm_90");
        Assert.Contains("no kernel 'Gelu'", Assert.Throws<InvalidDataException>(() => CubinResources.Read(cubin, "Gelu")).Message);
    }

    [Fact]
    public void Kernels_resources_lists_registers_for_one_kernel_nvrtc()
    {
        RuntimeRequirement.Nvrtc();
        (int exit, string output, string error) = Run("kernels", "RnnStepUnsharedOneImage", "--resources", "sm_90");

        Assert.True(exit == 0, error);
        Assert.Contains("registers", output);
        Assert.Matches(@"RnnStepUnsharedOneImage +\d+ +0 +0", output);
    }

    [Theory]
    [InlineData("compute_90", "real architecture")]
    [InlineData("sm_9000", "does not compile for sm_9000")]
    public void Kernels_resources_with_a_bad_architecture_is_a_usage_error_nvrtc(string architecture, string expected)
    {
        RuntimeRequirement.Nvrtc();
        (int exit, string output, string error) = Run("kernels", "Add", "--resources", architecture);
        AssertUsageError(exit, output, error, expected);
    }

    /// <summary>The registers in the top byte of .text.NAME's sh_info, read with no help from the reader under test.</summary>
    private static int TextSectionRegisters(byte[] elf, string kernel)
    {
        long offset = BinaryPrimitives.ReadInt64LittleEndian(elf.AsSpan(0x28));
        int size = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3A));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3C));
        int namesIndex = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x3E));
        long names = BinaryPrimitives.ReadInt64LittleEndian(elf.AsSpan((int)(offset + (long)namesIndex * size) + 0x18));
        for (int i = 0; i < count; i++)
        {
            int header = (int)(offset + (long)i * size);
            int name = BinaryPrimitives.ReadInt32LittleEndian(elf.AsSpan(header));
            int end = Array.IndexOf(elf, (byte)0, (int)(names + name));
            if (Encoding.ASCII.GetString(elf, (int)(names + name), end - (int)(names + name)) == ".text." + kernel)
            {
                return (int)(BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(header + 0x2C)) >> 24);
            }
        }

        throw new InvalidOperationException($"no .text.{kernel}");
    }
}
