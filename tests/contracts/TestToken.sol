// SPDX-License-Identifier: Apache-2.0
// A minimal ERC-20 for Trace's ingest tests and example: the deployer gets
// the whole supply and anyone may move their own balance. Compiled with
// solc-js 0.8.28 (`solcjs --bin --optimize TestToken.sol`); the bytecode is
// committed beside it in TestToken.bin.
pragma solidity ^0.8.20;

contract TestToken {
    string public constant name = "Trace Test Token";
    string public constant symbol = "TTT";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance");
        allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    /// Move `value` to `to` `count` times, one Transfer log each: blocks
    /// with many logs (for the ingest benchmark) in one transaction.
    function spray(address to, uint256 count, uint256 value) external {
        for (uint256 i = 0; i < count; i++) {
            _move(msg.sender, to, value);
        }
    }

    function _move(address from, address to, uint256 value) internal {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
