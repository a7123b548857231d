using System.Buffers.Binary;
using System.Text;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// What the compiler gave one kernel of a cubin: registers per thread, static shared memory per
/// group (the section size; at sm_90 it includes 1 KiB the compiler reserves), and the stack
/// frame per thread (where spilled registers and register arrays indexed at run time go).
/// </summary>
public readonly record struct KernelResources(int Registers, long SharedBytes, int StackBytes);

/// <summary>
/// Reads <see cref="KernelResources"/> from a cubin, the ELF file NVRTC makes, so that register
/// counts are known without a GPU and without ptxas's log (NVRTC from a Debian package prints
/// none). The counts are the cubin's own attributes: EIATTR_REGCOUNT and EIATTR_MAX_STACK_SIZE in
/// the .nv.info section, keyed by the kernel's symbol, and the size of .nv.shared.NAME.
/// </summary>
public static class CubinResources
{
    private const byte AttributeFormatSizedValue = 0x04;
    private const byte AttributeRegisterCount = 0x2f;
    private const byte AttributeMaxStackSize = 0x23;

    /// <exception cref="InvalidDataException">Not a 64-bit ELF cubin, or it has no such kernel.</exception>
    public static KernelResources Read(ReadOnlySpan<byte> cubin, string kernel)
    {
        if (cubin.Length < 64 || !cubin[..4].SequenceEqual("\u007fELF"u8) || cubin[4] != 2)
        {
            throw new InvalidDataException("not a 64-bit ELF cubin");
        }

        Section[] sections = Sections(cubin);
        long names = sections[BinaryPrimitives.ReadUInt16LittleEndian(cubin[0x3E..])].Offset;

        int symbol = SymbolIndex(cubin, sections, kernel);
        int registers = -1, stack = 0;
        long shared = 0;
        foreach (Section section in sections)
        {
            string name = Text(cubin, names + section.Name);
            if (name == ".nv.info")
            {
                ReadAttributes(cubin.Slice((int)section.Offset, (int)section.Size), symbol, ref registers, ref stack);
            }
            else if (name == ".nv.shared." + kernel)
            {
                shared = section.Size;
            }
        }

        return registers < 0
            ? throw new InvalidDataException($"the cubin gives no register count for '{kernel}'")
            : new KernelResources(registers, shared, stack);
    }

    private readonly record struct Section(int Name, uint Type, long Offset, long Size, int Link);

    private static Section[] Sections(ReadOnlySpan<byte> elf)
    {
        long offset = BinaryPrimitives.ReadInt64LittleEndian(elf[0x28..]);
        int size = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        var sections = new Section[count];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> header = elf.Slice((int)(offset + (long)i * size), size);
            sections[i] = new Section(
                BinaryPrimitives.ReadInt32LittleEndian(header),
                BinaryPrimitives.ReadUInt32LittleEndian(header[4..]),
                BinaryPrimitives.ReadInt64LittleEndian(header[0x18..]),
                BinaryPrimitives.ReadInt64LittleEndian(header[0x20..]),
                BinaryPrimitives.ReadInt32LittleEndian(header[0x28..]));
        }

        return sections;
    }

    /// <summary>The index of the kernel's function symbol in .symtab (the attributes name kernels by it).</summary>
    private static int SymbolIndex(ReadOnlySpan<byte> elf, Section[] sections, string kernel)
    {
        const uint SymbolTable = 2;
        const int EntrySize = 24;
        foreach (Section table in sections.Where(s => s.Type == SymbolTable))
        {
            long strings = sections[table.Link].Offset;
            for (int i = 0; i < table.Size / EntrySize; i++)
            {
                int name = BinaryPrimitives.ReadInt32LittleEndian(elf[(int)(table.Offset + (long)i * EntrySize)..]);
                if (Text(elf, strings + name) == kernel)
                {
                    return i;
                }
            }
        }

        throw new InvalidDataException($"the cubin has no kernel '{kernel}'");
    }

    /// <summary>Walks .nv.info's records (format, attribute, then a sized value of symbol and number) for the kernel's.</summary>
    private static void ReadAttributes(ReadOnlySpan<byte> info, int symbol, ref int registers, ref int stack)
    {
        int at = 0;
        while (at + 4 <= info.Length)
        {
            byte format = info[at];
            byte attribute = info[at + 1];
            if (format != AttributeFormatSizedValue)
            {
                // Records without a sized value are four bytes (format, attribute, a 16-bit value).
                at += 4;
                continue;
            }

            int size = BinaryPrimitives.ReadUInt16LittleEndian(info[(at + 2)..]);
            ReadOnlySpan<byte> value = info.Slice(at + 4, size);
            if (size == 8 && BinaryPrimitives.ReadInt32LittleEndian(value) == symbol)
            {
                int number = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
                if (attribute == AttributeRegisterCount)
                {
                    registers = number;
                }
                else if (attribute == AttributeMaxStackSize)
                {
                    stack = number;
                }
            }

            at += 4 + size;
        }
    }

    private static string Text(ReadOnlySpan<byte> elf, long offset)
    {
        ReadOnlySpan<byte> rest = elf[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
