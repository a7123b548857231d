using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

// Mma: the fragments of a tensor-core multiply-accumulate are register arrays, so that the C
// helpers get a private array they can keep in registers, and a constant index that would run
// past a register array of constant length is caught here rather than on a GPU.
internal sealed partial class FunctionTranslator
{
    /// <summary>
    /// Whether every fragment argument of an Mma call is a register array (a stackalloc local or a
    /// device function's Span parameter); reports GV0027 at each one that is not, and at a constant
    /// index that leaves too few elements in a register array of known length.
    /// </summary>
    private bool MmaFragmentsAreRegisterArrays(InvocationExpressionSyntax call, IMethodSymbol method)
    {
        bool valid = true;
        SeparatedSyntaxList<ArgumentSyntax> arguments = call.ArgumentList.Arguments;
        for (int p = 0; p < method.Parameters.Length && p < arguments.Count; p++)
        {
            if (KernelTypes.RegisterArray(method.Parameters[p].Type) is null)
            {
                continue;
            }

            ExpressionSyntax fragment = arguments[p].Expression;
            string name = method.Parameters[p].Name;
            ISymbol? symbol = fragment is IdentifierNameSyntax ? _model.GetSymbolInfo(fragment).Symbol : null;
            if (symbol is not (ILocalSymbol or IParameterSymbol))
            {
                Report(Diagnostics.MmaFragment, fragment, Show(call.Expression),
                    "fragment " + name + " '" + Show(fragment) + "' is not a register array");
                valid = false;
                continue;
            }

            // The index follows its fragment; D and A take 4 elements, B 2.
            int count = name == "b" ? 2 : 4;
            if (p + 1 < arguments.Count
                && _model.GetConstantValue(arguments[p + 1].Expression) is { HasValue: true, Value: int index }
                && (index < 0 || (RegisterArrayLength(symbol) is int length && index + count > length)))
            {
                Report(Diagnostics.MmaFragment, arguments[p + 1], Show(call.Expression),
                    "fragment " + name + " takes " + count + " elements from index " + index + ", which '" + Show(fragment) + "'"
                    + (RegisterArrayLength(symbol) is int known ? " (" + known + " elements) does not have" : " cannot have"));
                valid = false;
            }
        }

        return valid;
    }

    /// <summary>The constant length of a register array local; null for a device function's parameter.</summary>
    private int? RegisterArrayLength(ISymbol symbol)
    {
        foreach (SyntaxReference reference in symbol.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax() is VariableDeclaratorSyntax { Initializer.Value: StackAllocArrayCreationExpressionSyntax { Type: ArrayTypeSyntax array } }
                && array.RankSpecifiers.Count == 1 && array.RankSpecifiers[0].Sizes.Count == 1
                && _model.GetConstantValue(array.RankSpecifiers[0].Sizes[0]) is { HasValue: true, Value: int length })
            {
                return length;
            }
        }

        return null;
    }
}
